"""What the synthetic Hanoi is calibrated to: the figures of `REFERENCE.md`, as tables.

Each segment's non-cash share at the start of the run, its growth and ceiling, its volume,
amounts and method mix; the sources that send each segment; the hours of the day events happen
at; e-payment account coverage per kind of district and how accounts open and close. The model
(`producers.simulate.model`) draws from these; nothing here is random but `calibrate`'s jitter
for markets and streets, drawn from the generator the caller passes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone

from cashless.taxonomy import Segment

__all__ = [
    "BACKFILL_DAYS",
    "CHANNEL_VOLUME",
    "CLOSE_PER_DAY",
    "COVERAGE_CEILING",
    "COVERAGE_GROWTH",
    "COVERAGE_START",
    "DAY",
    "HANOI",
    "HANOI_OFFSET",
    "HOURS",
    "KIND_SHIFT",
    "PROVIDERS",
    "SECOND_AT_START",
    "SECOND_PER_DAY",
    "STALL_SHARE",
    "Calibration",
    "calibrate",
    "source_of",
]

DAY = 86_400
HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
HANOI_OFFSET = 7 * 3600

# E-payment account providers and their share of new accounts (wallets, banks, mobile money).
PROVIDERS: Mapping[str, float] = {
    "momo": 0.30,
    "zalopay": 0.16,
    "vnpay": 0.14,
    "vietcombank": 0.14,
    "bidv": 0.12,
    "viettel-money": 0.14,
}

# How the day's payments divide between channels (renormalised over channels that have segments).
CHANNEL_VOLUME = {"utility": 0.45, "market": 0.35, "street": 0.20}


@dataclass(frozen=True, slots=True)
class Calibration:
    """How one segment's payments behave at the start of the run."""

    share: float  # non-cash share at the start of the run
    growth: float  # share points per day at the start of the run
    ceiling: float
    volume: float  # relative number of payments within the channel
    median_vnd: int
    sigma: float
    rounding: int
    methods: Mapping[str, float]


# Non-cash methods' weights, given that a payment is not cash.
_UTILITY_METHODS = {"bank_transfer": 35, "qr": 20, "e_wallet": 20, "card": 10, "direct_debit": 10,
                    "mobile_money": 5}  # fmt: skip
_BILL_METHODS = {"direct_debit": 30, "bank_transfer": 25, "e_wallet": 25, "qr": 13, "card": 4,
                 "mobile_money": 3}  # fmt: skip
_TUITION_METHODS = {"bank_transfer": 55, "qr": 20, "e_wallet": 15, "card": 5, "direct_debit": 5}
_HOSPITAL_METHODS = {"card": 35, "qr": 35, "bank_transfer": 15, "e_wallet": 15}
_MARKET_METHODS = {"qr": 62, "e_wallet": 20, "bank_transfer": 10, "card": 5, "mobile_money": 3}
_STREET_METHODS = {"qr": 45, "card": 28, "e_wallet": 20, "bank_transfer": 3, "mobile_money": 4}

# Known utility services: share at the start, growth per day, ceiling, relative volume, median
# amount (VND), log-normal sigma, rounding (VND), methods. Electricity and water are Hanoi's 2023
# figures (REFERENCE.md); the others are approximate, set around the national 2025 targets
# (urban hospitals 60%, urban schools 90–100%, social-insurance 60%).
_C = Calibration
_UTILITIES: Mapping[str, Calibration] = {
    "electricity": _C(0.999, 0.000005, 0.9999, 28, 620_000, 0.55, 1, _BILL_METHODS),
    "water": _C(0.9667, 0.00003, 0.995, 22, 170_000, 0.5, 1, _BILL_METHODS),
    "telecom": _C(0.93, 0.0002, 0.99, 18, 220_000, 0.45, 1000, _UTILITY_METHODS),
    "tax": _C(0.88, 0.0002, 0.99, 4, 1_500_000, 1.2, 1000, _UTILITY_METHODS),
    "public-service": _C(0.75, 0.0006, 0.97, 6, 80_000, 0.8, 1000, _UTILITY_METHODS),
    "tuition": _C(0.74, 0.0008, 0.99, 8, 2_800_000, 0.7, 1000, _TUITION_METHODS),
    "hospital": _C(0.60, 0.0010, 0.95, 10, 420_000, 1.0, 1000, _HOSPITAL_METHODS),
    "social-insurance": _C(0.64, 0.0008, 0.97, 4, 1_100_000, 0.6, 1000, _UTILITY_METHODS),
}
_OTHER_UTILITY = Calibration(0.80, 0.0005, 0.98, 5, 300_000, 0.8, 1000, _UTILITY_METHODS)

_UTILITY_SOURCES = {
    "electricity": "evn-hanoi",
    "water": "hawaco",
    "telecom": "vnpt-hanoi",
    "tax": "hanoi-tax",
    "public-service": "hanoi-public-service",
    "tuition": "hanoi-schools",
    "hospital": "hanoi-hospitals",
    "social-insurance": "vss-hanoi",
}

# Log-odds shift of a utility's share by district kind: urban ahead, rural behind. Weighted by
# population at start-up so that the city-wide share stays the calibrated one.
KIND_SHIFT = {"urban": 0.30, "town": 0.0, "rural": -0.25}

# Hour-of-day weights (Hanoi local time) per kind of event.
HOURS = {
    "utility": (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 2, 1),
    "market": (0, 0, 0, 1, 4, 10, 14, 14, 12, 10, 8, 6, 5, 5, 6, 7, 8, 8, 6, 3, 1, 0, 0, 0),
    "street": (1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 5, 5, 5, 6, 7, 9, 11, 12, 11, 8, 4),
    "account": (0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 8, 7, 7, 8, 8, 7, 6, 5, 5, 4, 3, 1, 0),
}

# Coverage of e-payment accounts at the start of the run (range per district kind) and its
# growth in share points per day; the curve's ceiling.
COVERAGE_START = {"urban": (0.42, 0.48), "town": (0.36, 0.40), "rural": (0.30, 0.36)}
COVERAGE_GROWTH = {"urban": (0.0009, 0.0013), "town": (0.0010, 0.0014), "rural": (0.0010, 0.0014)}
COVERAGE_CEILING = 0.9
CLOSE_PER_DAY = 0.0004  # chance that an open account is closed on a given day (≈14% a year)
SECOND_PER_DAY = 0.0006  # chance that a holder opens a second account on a given day
SECOND_AT_START = 0.2  # share of the initial holders with two accounts
BACKFILL_DAYS = 365  # the initial account base was opened over the year before the run

STALL_SHARE = 0.42  # a stalled segment stays flat at most here, below the 50% goal


def source_of(segment: Segment) -> str:
    """The producer id that sends a segment's payments (`evn-hanoi`, `dong-xuan-board`, …)."""
    if segment.channel == "market":
        return f"{segment.slug}-board"
    if segment.channel == "street":
        return f"{segment.slug}-operator"
    return _UTILITY_SOURCES.get(segment.slug, f"{segment.slug}-hanoi")[:64]


@dataclass(frozen=True, slots=True)
class _Drawn:
    """A channel whose segments are calibrated by draws: markets and streets."""

    shares: Mapping[str, tuple[float, float]]  # range of the start share by district kind...
    share: tuple[float, float]  # ...and for any other kind
    growth: tuple[float, float]
    ceiling: float
    median_vnd: int
    sigma: float
    methods: Mapping[str, float]


_MARKETS = _Drawn({"urban": (0.12, 0.34)}, (0.08, 0.22), (0.0006, 0.0013), 0.9, 90_000, 0.9,
                  _MARKET_METHODS)  # fmt: skip
_STREETS = _Drawn({"rural": (0.52, 0.60)}, (0.55, 0.72), (0.0005, 0.0012), 0.97, 160_000, 0.8,
                  _STREET_METHODS)  # fmt: skip


def calibrate(segment: Segment, kind: str, params: random.Random) -> Calibration:
    """A segment's calibration: a known utility's figures, or a market's or street's drawn
    from `params` around its district `kind` (urban, town, rural; "" for none)."""
    if segment.channel == "utility":
        return _UTILITIES.get(segment.slug, _OTHER_UTILITY)
    drawn = _MARKETS if segment.channel == "market" else _STREETS
    # The draws' order (volume, share, growth) fixes every later draw: keep it.
    jitter = params.uniform(0.6, 1.4)
    low, high = drawn.shares.get(kind, drawn.share)
    return Calibration(
        share=params.uniform(low, high),
        growth=params.uniform(*drawn.growth),
        ceiling=drawn.ceiling,
        volume=jitter,
        median_vnd=drawn.median_vnd,
        sigma=drawn.sigma,
        rounding=1000,
        methods=drawn.methods,
    )
