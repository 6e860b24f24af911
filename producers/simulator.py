"""A synthetic Hanoi: payment and account events calibrated to the city's published figures.

Pure generation, no I/O and no wall clock: the caller passes the time span, the seed and the
pseudonymisation key, and gets the same events for the same inputs, byte for byte. Every random
draw comes from `random.Random` instances derived from the seed, one per concern (model
parameters, payments, accounts, injected faults), so that injecting faults or silencing a
source leaves every other event exactly as it was.

The model (figures from `REFERENCE.md`):

- each segment's non-cash share follows a logistic curve given by its share at the start of the
  run, its daily growth there and a ceiling: electricity ≈ 99.9%, water ≈ 96.7%, tax, telecom
  and public services in between, tuition and hospitals lower; markets start well below 50% and
  rise at their own speed, cashless streets start above 50%;
- utility payments are spread over districts by population; urban districts are ahead of rural
  ones (a shift of the share's log-odds, weighted so that the city total keeps the calibration);
  market and street payments happen in their own district, rural and town markets start lower;
- e-payment account coverage starts per district between ≈30% (rural) and ≈48% (urban) and
  rises towards the 50% goal; accounts open and close at several providers, and one person may
  hold two (the same pseudonym at both, so they count once);
- payment methods mix per channel (direct debit for utilities, QR at markets, cards on streets),
  and amounts are log-normal per segment, in VND.

Population is scaled (`population_scale`, 0.001 by default) so that a 90-day run has thousands
of holders, not millions; coverage ratios are then relative to the scaled population, which
`scaled_taxonomy` gives and `districts_csv` writes for the workers to use.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

import msgspec

from cashless.errors import ConfigError
from cashless.metrics import MetricValues
from cashless.privacy import Pseudonymiser
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.taxonomy import District, Segment, Taxonomy
from producers.ground_truth import expected_metrics

__all__ = [
    "DAY",
    "HANOI",
    "PROVIDERS",
    "BadRecord",
    "Emission",
    "SegmentProfile",
    "SimulationConfig",
    "Simulator",
    "districts_csv",
    "ground_truth",
    "scaled_taxonomy",
    "source_of",
    "truth_json",
]

DAY = 86_400
HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
_HANOI_OFFSET = 7 * 3600

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
_CHANNEL_VOLUME = {"utility": 0.45, "market": 0.35, "street": 0.20}

_NONCASH_METHODS = ("card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money")


@dataclass(frozen=True, slots=True)
class _Calibration:
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
_C = _Calibration
_UTILITIES: Mapping[str, _Calibration] = {
    "electricity": _C(0.999, 0.000005, 0.9999, 28, 620_000, 0.55, 1, _BILL_METHODS),
    "water": _C(0.9667, 0.00003, 0.995, 22, 170_000, 0.5, 1, _BILL_METHODS),
    "telecom": _C(0.93, 0.0002, 0.99, 18, 220_000, 0.45, 1000, _UTILITY_METHODS),
    "tax": _C(0.88, 0.0002, 0.99, 4, 1_500_000, 1.2, 1000, _UTILITY_METHODS),
    "public-service": _C(0.75, 0.0006, 0.97, 6, 80_000, 0.8, 1000, _UTILITY_METHODS),
    "tuition": _C(0.74, 0.0008, 0.99, 8, 2_800_000, 0.7, 1000, _TUITION_METHODS),
    "hospital": _C(0.60, 0.0010, 0.95, 10, 420_000, 1.0, 1000, _HOSPITAL_METHODS),
    "social-insurance": _C(0.64, 0.0008, 0.97, 4, 1_100_000, 0.6, 1000, _UTILITY_METHODS),
}
_OTHER_UTILITY = _Calibration(0.80, 0.0005, 0.98, 5, 300_000, 0.8, 1000, _UTILITY_METHODS)

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
_KIND_SHIFT = {"urban": 0.30, "town": 0.0, "rural": -0.25}

# Hour-of-day weights (Hanoi local time) per kind of event.
_HOURS = {
    "utility": (1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 6, 5, 4, 2, 1),
    "market": (0, 0, 0, 1, 4, 10, 14, 14, 12, 10, 8, 6, 5, 5, 6, 7, 8, 8, 6, 3, 1, 0, 0, 0),
    "street": (1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 5, 5, 5, 6, 7, 9, 11, 12, 11, 8, 4),
    "account": (0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 8, 7, 7, 8, 8, 7, 6, 5, 5, 4, 3, 1, 0),
}

# Coverage of e-payment accounts at the start of the run (range per district kind) and its
# growth in share points per day; the curve's ceiling.
_COVERAGE_START = {"urban": (0.42, 0.48), "town": (0.36, 0.40), "rural": (0.30, 0.36)}
_COVERAGE_GROWTH = {"urban": (0.0009, 0.0013), "town": (0.0010, 0.0014), "rural": (0.0010, 0.0014)}
_COVERAGE_CEILING = 0.9
_CLOSE_PER_DAY = 0.0004  # chance that an open account is closed on a given day (≈14% a year)
_SECOND_PER_DAY = 0.0006  # chance that a holder opens a second account on a given day
_SECOND_AT_START = 0.2  # share of the initial holders with two accounts
_BACKFILL_DAYS = 365  # the initial account base was opened over the year before the run

_STALL_SHARE = 0.42  # a stalled segment stays flat at most here, below the 50% goal
_DUPLICATE_MEMORY = 2000  # a duplicate re-sends one of the last this many payments
_LATE_SHORT = (60, 36 * 3600)  # most late events are out of order by minutes to hours...
_LATE_LONG = (31 * DAY, 45 * DAY)  # ...the rest are older than the 30-day horizon
_LATE_LONG_SHARE = 0.25
_FUTURE = 3650 * DAY  # a broken clock: ten years ahead
_BAD_KINDS = (
    "unknown_segment",
    "unknown_district",
    "missing_field",
    "invalid_amount",
    "bad_json",
    "bad_utf8",
    "future_timestamp",
)


class BadRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record a broken producer sent: raw bytes the workers must reject, never a typed event.

    `fault` names what is wrong with it (one of the simulated faults), `key` is the record key
    the broken producer used on `payments.events`.
    """

    raw: bytes
    key: str
    source: str
    fault: str


Emission = PaymentEvent | AccountEvent | BadRecord


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. `end` is where the adoption curves are `days` days after their start.

    In compressed history the events lie in `[end - days, end)`; in live mode `end` is the start
    of the run and the curves continue from there. `silent_after` defaults to the middle of the
    history.
    """

    end: datetime
    seed: int = 1
    days: int = 90
    events_per_day: int = 2000
    population_scale: float = 0.001
    stall: frozenset[str] = frozenset()
    silent: frozenset[str] = frozenset()
    silent_after: datetime | None = None
    bad_records: float = 0.0
    duplicates: float = 0.0
    late: float = 0.0

    def __post_init__(self) -> None:
        if self.end.tzinfo is None or self.end.utcoffset() is None:
            raise ConfigError("the end of the simulation must carry a UTC offset")
        if self.days < 1:
            raise ConfigError("days must be at least 1")
        if self.events_per_day < 0:
            raise ConfigError("events per day must not be negative")
        if not 0.0 < self.population_scale <= 1.0:
            raise ConfigError("population scale must be in (0, 1]")
        for name in ("bad_records", "duplicates", "late"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"{name.replace('_', ' ')} rate {rate} is not in [0, 1]")


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """How one segment behaves: its source, share curve, volume, amounts and method mix."""

    segment: Segment
    source: str
    share: float
    growth: float
    ceiling: float
    volume: float
    median_vnd: int
    sigma: float
    rounding: int
    methods: tuple[str, ...]
    method_weights: tuple[float, ...]
    stalled: bool = False

    def share_at(self, day: float, shift: float = 0.0) -> float:
        """The non-cash share `day` days after the start of the run, log-odds shifted."""
        if self.stalled:
            base = min(self.share, _STALL_SHARE)
        else:
            base = _logistic(self.share, self.growth, self.ceiling, day)
        if shift == 0.0:
            return base
        return _shift(base, shift)


def source_of(segment: Segment) -> str:
    """The producer id that sends a segment's payments (`evn-hanoi`, `dong-xuan-board`, …)."""
    if segment.channel == "market":
        return f"{segment.slug}-board"
    if segment.channel == "street":
        return f"{segment.slug}-operator"
    return _UTILITY_SOURCES.get(segment.slug, f"{segment.slug}-hanoi")[:64]


def scaled_taxonomy(taxonomy: Taxonomy, scale: float) -> Taxonomy:
    """The taxonomy with each district's population multiplied by `scale` (at least 1)."""
    districts = {
        slug: replace(d, population=max(1, round(d.population * scale)))
        for slug, d in taxonomy.districts.items()
    }
    return Taxonomy(districts=districts, segments=dict(taxonomy.segments))


def districts_csv(taxonomy: Taxonomy) -> str:
    """The district table in the columns `load_taxonomy` reads (for a scaled population)."""
    lines = ["slug,name,kind,population_2018"]
    for d in taxonomy.districts.values():
        name = f'"{d.name}"' if "," in d.name else d.name
        lines.append(f"{d.slug},{name},{d.kind},{d.population}")
    return "\n".join(lines) + "\n"


def _logistic(share: float, growth: float, ceiling: float, day: float) -> float:
    """A logistic curve through `share` at day 0 with slope `growth` there, towards `ceiling`."""
    if share >= ceiling or growth <= 0.0:
        return share
    rate = growth / (share * (1.0 - share / ceiling))
    return ceiling / (1.0 + (ceiling / share - 1.0) * math.exp(-rate * day))


def _shift(p: float, logit_shift: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return p
    odds = p / (1.0 - p) * math.exp(logit_shift)
    return odds / (1.0 + odds)


def _cumulative(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class _Clock:
    """Places event times within a span of time by an hour-of-day profile in Hanoi local time."""

    def __init__(self, hours: Sequence[int]) -> None:
        self.cum = _cumulative(hours)
        self.total = self.cum[-1]

    def times(self, rng: random.Random, t0: int, t1: int, count: int) -> list[int]:
        """`count` sorted integer times in `[t0, t1)`: in a day-long span, by hour of day."""
        span = t1 - t0
        if span <= 0:
            return [t0] * count
        rnd = rng.random
        if span < DAY:
            return sorted(t0 + int(rnd() * span) for _ in range(count))
        into_day = (t0 + _HANOI_OFFSET) % DAY
        cum, total = self.cum, self.total
        out = []
        for _ in range(count):
            hour = bisect.bisect(cum, rnd() * total)
            local = hour * 3600 + int(rnd() * 3600)
            out.append(t0 + (local - into_day) % DAY)
        out.sort()
        return out


@dataclass
class _District:
    """A district's synthetic residents and their accounts, for the account process."""

    slug: str
    kind: str
    people: range  # global person numbers
    coverage: float
    growth: float
    holders: list[int] = field(default_factory=list)
    holder_at: dict[int, int] = field(default_factory=dict)
    others: list[int] = field(default_factory=list)
    other_at: dict[int, int] = field(default_factory=dict)
    accounts: list[tuple[int, int]] = field(default_factory=list)
    account_at: dict[tuple[int, int], int] = field(default_factory=dict)

    def target(self, day: float) -> float:
        return _logistic(self.coverage, self.growth, _COVERAGE_CEILING, day)


def _remove(items: list[Any], at: dict[Any, int], item: Any) -> None:
    """Swap-remove `item` from a list indexed by `at`, in O(1)."""
    i = at.pop(item)
    last = items.pop()
    if i < len(items):
        items[i] = last
        at[last] = i


def _add(items: list[Any], at: dict[Any, int], item: Any) -> None:
    at[item] = len(items)
    items.append(item)


class Simulator:
    """Generates the events of the synthetic city; see the module docstring for the model.

    Use `history()` for compressed history, or `backfill()` once and then `interval()` per tick
    for live generation. `injected` counts the faults put in so far.
    """

    def __init__(self, taxonomy: Taxonomy, config: SimulationConfig, key: bytes) -> None:
        if not key:
            raise ConfigError("the pseudonymisation key must not be empty")
        self.config = config
        self.taxonomy = taxonomy
        self.population = scaled_taxonomy(taxonomy, config.population_scale)
        self._pseudonymiser = Pseudonymiser(key)
        end = int(config.end.timestamp())
        self.end = end
        self.origin = end - config.days * DAY
        silent = config.silent_after
        self.silent_after = (
            int(silent.timestamp()) if silent is not None else self.origin + config.days * DAY // 2
        )
        master = _random(config.seed)
        params = _random(master.getrandbits(64))
        self._rng_pay = _random(master.getrandbits(64))
        self._rng_acc = _random(master.getrandbits(64))
        self._rng_fault = _random(master.getrandbits(64))
        tag_input = f"{config.seed}:{self.origin}:{config.days}:{config.events_per_day}"
        tag_input += f":{config.population_scale}"
        self._tag = hashlib.sha256(tag_input.encode()).hexdigest()[:8]
        self._seq = itertools.count()
        self._bad_seq = itertools.count()
        self.injected: Counter[str] = Counter()

        self.profiles = self._profiles(params)
        known = {p.segment.slug for p in self.profiles}
        unknown = sorted(set(config.stall) - known)
        if unknown:
            raise ConfigError(f"cannot stall unknown segment(s): {', '.join(unknown)}")
        self.sources: tuple[str, ...] = tuple(
            dict.fromkeys([p.source for p in self.profiles] + list(PROVIDERS))
        )
        unknown = sorted(set(config.silent) - set(self.sources))
        if unknown:
            raise ConfigError(
                f"cannot silence unknown source(s): {', '.join(unknown)} "
                f"(known: {', '.join(self.sources)})"
            )
        self._silent = config.silent

        self._volume_cum = _cumulative(p.volume for p in self.profiles)
        districts = list(self.population.districts.values())
        self._district_slugs = [d.slug for d in districts]
        self._district_cum = _cumulative(d.population for d in districts)
        self._shift = self._kind_shifts(districts)
        self._clocks = {name: _Clock(hours) for name, hours in _HOURS.items()}
        self._method_cum = [_cumulative(p.method_weights) for p in self.profiles]
        self._providers = tuple(PROVIDERS)
        self._provider_cum = _cumulative(PROVIDERS.values())

        # Residents: global person numbers, grouped by district, pseudonymised lazily.
        self._people: list[_District] = []
        start = 0
        for d in districts:
            low, high = _COVERAGE_START.get(d.kind, _COVERAGE_START["rural"])
            g_low, g_high = _COVERAGE_GROWTH.get(d.kind, _COVERAGE_GROWTH["rural"])
            people = range(start, start + d.population)
            start += d.population
            self._people.append(
                _District(
                    slug=d.slug,
                    kind=d.kind,
                    people=people,
                    coverage=params.uniform(low, high),
                    growth=params.uniform(g_low, g_high),
                    others=list(people),
                    other_at={p: i for i, p in enumerate(people)},
                )
            )
        self._residents = start
        self._pseudonyms: dict[int, str] = {}
        self._recent: deque[PaymentEvent] = deque(maxlen=_DUPLICATE_MEMORY)
        self._backfilled = False

    # -- the model ------------------------------------------------------------------------------

    def _profiles(self, params: random.Random) -> list[SegmentProfile]:
        by_channel: dict[str, list[Segment]] = {}
        for segment in self.taxonomy.segments.values():
            by_channel.setdefault(segment.channel, []).append(segment)
        volume = {c: v for c, v in _CHANNEL_VOLUME.items() if by_channel.get(c)}
        total_volume = sum(volume.values())
        profiles: list[SegmentProfile] = []
        for channel, segments in by_channel.items():
            calibrations = [self._calibrate(s, params) for s in segments]
            channel_total = sum(c.volume for c in calibrations)
            for segment, cal in zip(segments, calibrations, strict=True):
                profiles.append(
                    SegmentProfile(
                        segment=segment,
                        source=source_of(segment),
                        share=cal.share,
                        growth=cal.growth,
                        ceiling=cal.ceiling,
                        volume=volume[channel] / total_volume * cal.volume / channel_total,
                        median_vnd=cal.median_vnd,
                        sigma=cal.sigma,
                        rounding=cal.rounding,
                        methods=tuple(cal.methods),
                        method_weights=tuple(cal.methods.values()),
                        stalled=segment.slug in self.config.stall,
                    )
                )
        return profiles

    def _calibrate(self, segment: Segment, params: random.Random) -> _Calibration:
        kind = self.taxonomy.districts[segment.district].kind if segment.district else ""
        if segment.channel == "utility":
            return _UTILITIES.get(segment.slug, _OTHER_UTILITY)
        jitter = params.uniform(0.6, 1.4)
        if segment.channel == "market":
            low, high = (0.12, 0.34) if kind == "urban" else (0.08, 0.22)
            return _Calibration(
                share=params.uniform(low, high),
                growth=params.uniform(0.0006, 0.0013),
                ceiling=0.9,
                volume=jitter,
                median_vnd=90_000,
                sigma=0.9,
                rounding=1000,
                methods=_MARKET_METHODS,
            )
        low, high = (0.55, 0.72) if kind != "rural" else (0.52, 0.60)
        return _Calibration(
            share=params.uniform(low, high),
            growth=params.uniform(0.0005, 0.0012),
            ceiling=0.97,
            volume=jitter,
            median_vnd=160_000,
            sigma=0.8,
            rounding=1000,
            methods=_STREET_METHODS,
        )

    @staticmethod
    def _kind_shifts(districts: Sequence[District]) -> list[float]:
        raw = [_KIND_SHIFT.get(d.kind, 0.0) for d in districts]
        total = sum(d.population for d in districts)
        mean = sum(s * d.population for s, d in zip(raw, districts, strict=True)) / total
        return [s - mean for s in raw]

    def _pseudonym(self, person: int) -> str:
        pseudonym = self._pseudonyms.get(person)
        if pseudonym is None:
            # A synthetic citizen ID (CCCD): Hanoi's province code 001, then 9 digits.
            pseudonym = self._pseudonymiser.pseudonym(f"001{person:09d}")
            self._pseudonyms[person] = pseudonym
        return pseudonym

    def _event_id(self) -> str:
        return f"{self._tag}-{next(self._seq):x}"

    # -- generation ------------------------------------------------------------------------------

    def history(self) -> Iterator[list[Emission]]:
        """Compressed history: the initial account base, then one list of emissions per day."""
        yield self.backfill(self.origin)
        for day in range(self.config.days):
            t0 = self.origin + day * DAY
            yield self.interval(t0, t0 + DAY, self.config.events_per_day)

    def backfill(self, at: float) -> list[Emission]:
        """The account base as it stands at `at`: accounts opened over the year before, in order.

        Called once, before any `interval`.
        """
        if self._backfilled:
            raise RuntimeError("backfill() was already called")
        self._backfilled = True
        rng = self._rng_acc
        now = int(at)
        day = (now - self.origin) / DAY
        opened: list[tuple[int, int, int, str]] = []
        for district in self._people:
            count = round(len(district.people) * district.target(day))
            for person in rng.sample(district.others, min(count, len(district.others))):
                first = self._pick_provider(rng)
                providers = [first]
                if rng.random() < _SECOND_AT_START:
                    providers.append(self._pick_provider(rng, exclude=first))
                for provider in providers:
                    when = now - 1 - int(rng.random() * _BACKFILL_DAYS * DAY)
                    self._open(district, person, provider)
                    opened.append((when, person, provider, district.slug))
        opened.sort(key=itemgetter(0))
        out: list[Emission] = []
        for when, person, provider, slug in opened:
            event = self._account(when, "opened", person, provider, slug)
            if not self._is_silent(event.source, now):
                out.append(event)
        return out

    def interval(
        self, t0: float, t1: float, payments: int, *, live: bool = False
    ) -> list[Emission]:
        """The emissions of the span `[t0, t1)`: `payments` payments and the account changes.

        In history the events are spread over the span by hour of day and emitted in time
        order; `live=True` stamps every event with `t1`, the present.
        """
        start, stop = int(t0), int(t1)
        items: list[tuple[int, Emission]] = self._payments(start, stop, payments, live)
        items += self._account_changes(start, stop, live)
        if not live:
            items.sort(key=itemgetter(0))
        return self._emit(items)

    def _payments(self, t0: int, t1: int, count: int, live: bool) -> list[tuple[int, Emission]]:
        rng = self._rng_pay
        rnd, gauss, exp = rng.random, rng.gauss, math.exp
        profiles = self.profiles
        chosen = rng.choices(range(len(profiles)), cum_weights=self._volume_cum, k=count)
        per_profile = Counter(chosen)
        day = ((t0 + t1) / 2 - self.origin) / DAY
        slugs, dcum = self._district_slugs, self._district_cum
        dtotal = dcum[-1]
        people = self._people
        residents_all = self._residents
        late = self.config.late
        frnd = self._rng_fault.random
        out: list[tuple[int, Emission]] = []
        for index, profile in enumerate(profiles):
            n = per_profile.get(index, 0)
            if not n:
                continue
            segment = profile.segment
            channel, slug, source = segment.channel, segment.slug, profile.source
            times = [t1] * n if live else self._clocks[channel].times(rng, t0, t1, n)
            methods, mcum = profile.methods, self._method_cum[index]
            mtotal = mcum[-1]
            mu, sigma, rounding = math.log(profile.median_vnd), profile.sigma, profile.rounding
            utility = channel == "utility"
            # Utilities (and a market or street without a district) serve the whole city.
            spread = utility or not segment.district
            if utility:
                shares = [profile.share_at(day, s) for s in self._shift]
            else:
                share = profile.share_at(day)
                shares = [share] * len(slugs)
                where = 0 if spread else slugs.index(segment.district)
            for t in times:
                payer: str | None = None
                if spread:
                    where = bisect.bisect(dcum, rnd() * dtotal)
                    share = shares[where]
                if utility:
                    residents = people[where].people
                    payer = self._pseudonym(residents[int(rnd() * len(residents))])
                # The same draws whatever the outcome, so that a stalled segment leaves the
                # random stream of every other segment as it was.
                noncash, pick, who = rnd() < share, rnd(), rnd()
                if noncash:
                    method = methods[bisect.bisect(mcum, pick * mtotal)]
                    if not utility:
                        payer = self._pseudonym(int(who * residents_all))
                else:
                    method = "cash"
                amount = max(
                    1000, min(10**12, round(exp(mu + sigma * gauss()) / rounding) * rounding)
                )
                when = t
                if late and frnd() < late:
                    when = t - self._late_delay()
                    self.injected["late"] += 1
                out.append(
                    (
                        t,
                        PaymentEvent(
                            schema=1,
                            event_id=self._event_id(),
                            occurred_at=datetime.fromtimestamp(when, HANOI),
                            source=source,
                            channel=channel,  # type: ignore[arg-type]
                            segment=slug,
                            district=slugs[where],
                            method=method,  # type: ignore[arg-type]
                            amount_vnd=amount,
                            payer=payer,
                        ),
                    )
                )
        return out

    def _late_delay(self) -> int:
        rng = self._rng_fault
        low, high = _LATE_LONG if rng.random() < _LATE_LONG_SHARE else _LATE_SHORT
        return rng.randrange(low, high)

    def _account_changes(self, t0: int, t1: int, live: bool) -> list[tuple[int, Emission]]:
        rng = self._rng_acc
        fraction = (t1 - t0) / DAY
        target_day = (t1 - self.origin) / DAY
        changes: list[tuple[str, int, int, str]] = []
        for district in self._people:
            closing = _stochastic_round(rng, len(district.accounts) * _CLOSE_PER_DAY * fraction)
            for _ in range(min(closing, len(district.accounts))):
                person, provider = district.accounts[rng.randrange(len(district.accounts))]
                self._close(district, person, provider)
                changes.append(("closed", person, provider, district.slug))
            target = round(len(district.people) * district.target(target_day))
            opening = min(target - len(district.holders), len(district.others))
            if opening > 0:
                for person in rng.sample(district.others, opening):
                    provider = self._pick_provider(rng)
                    self._open(district, person, provider)
                    changes.append(("opened", person, provider, district.slug))
            second = _stochastic_round(rng, len(district.holders) * _SECOND_PER_DAY * fraction)
            for _ in range(second):
                person = district.holders[rng.randrange(len(district.holders))]
                provider = self._pick_provider(rng)
                if (person, provider) in district.account_at:
                    continue
                self._open(district, person, provider)
                changes.append(("opened", person, provider, district.slug))
        times = (
            [t1] * len(changes)
            if live
            else self._clocks["account"].times(rng, t0, t1, len(changes))
        )
        return [
            (t, self._account(t, kind, person, provider, slug))
            for t, (kind, person, provider, slug) in zip(times, changes, strict=True)
        ]

    def _account(
        self, t: int, kind: str, person: int, provider: int, district: str
    ) -> AccountEvent:
        return AccountEvent(
            schema=1,
            event_id=self._event_id(),
            occurred_at=datetime.fromtimestamp(t, HANOI),
            source=self._providers[provider],
            type=kind,  # type: ignore[arg-type]
            holder=self._pseudonym(person),
            district=district,
        )

    def _pick_provider(self, rng: random.Random, exclude: int | None = None) -> int:
        cum = self._provider_cum
        while True:
            provider = bisect.bisect(cum, rng.random() * cum[-1])
            if provider != exclude:
                return provider

    def _open(self, district: _District, person: int, provider: int) -> None:
        _add(district.accounts, district.account_at, (person, provider))
        if person in district.other_at:
            _remove(district.others, district.other_at, person)
            _add(district.holders, district.holder_at, person)

    def _close(self, district: _District, person: int, provider: int) -> None:
        _remove(district.accounts, district.account_at, (person, provider))
        if not any((person, p) in district.account_at for p in range(len(self._providers))):
            _remove(district.holders, district.holder_at, person)
            _add(district.others, district.other_at, person)

    def _is_silent(self, source: str, t: int) -> bool:
        return source in self._silent and t >= self.silent_after

    def _emit(self, items: list[tuple[int, Emission]]) -> list[Emission]:
        """Drop what silent sources would not send; put in duplicates and bad records."""
        dup, bad = self.config.duplicates, self.config.bad_records
        frnd = self._rng_fault.random
        recent = self._recent
        out: list[Emission] = []
        for t, item in items:
            if self._silent and self._is_silent(item.source, t):
                continue
            out.append(item)
            if not isinstance(item, PaymentEvent):
                continue
            if dup and recent and frnd() < dup:
                copy = recent[int(frnd() * len(recent))]
                if not self._is_silent(copy.source, t):
                    out.append(copy)
                    self.injected["duplicates"] += 1
            recent.append(item)
            if bad and frnd() < bad:
                record = self._bad_record(item, t)
                if not self._is_silent(record.source, t):
                    out.append(record)
                    self.injected["bad_records"] += 1
        return out

    def _bad_record(self, template: PaymentEvent, t: int) -> BadRecord:
        rng = self._rng_fault
        fault = _BAD_KINDS[int(rng.random() * len(_BAD_KINDS))]
        fields = msgspec.to_builtins(template)
        fields["event_id"] = f"{self._tag}-bad{next(self._bad_seq):x}"
        key = template.key
        if fault == "unknown_segment":
            fields["segment"] = f"{template.segment}-annex"
            key = f"{template.channel}:{fields['segment']}"
        elif fault == "unknown_district":
            fields["district"] = "ha-tay"  # the province merged into Hanoi in 2008
        elif fault == "missing_field":
            del fields[("method", "amount_vnd", "occurred_at")[int(rng.random() * 3)]]
        elif fault == "invalid_amount":
            fields["amount_vnd"] = -template.amount_vnd
        elif fault == "future_timestamp":
            fields["occurred_at"] = datetime.fromtimestamp(t + _FUTURE, HANOI).isoformat()
        raw = msgspec.json.encode(fields)
        if fault == "bad_json":
            raw = raw[: len(raw) // 2]
        elif fault == "bad_utf8":
            raw = raw.replace(b'"district"', b'"district\xff"', 1)
        self.injected[f"bad:{fault}"] += 1
        return BadRecord(raw=raw, key=key, source=template.source, fault=fault)


def _random(seed: int) -> random.Random:
    """A seeded generator: synthetic data must be reproducible, not unpredictable."""
    return random.Random(seed)  # noqa: S311


def _stochastic_round(rng: random.Random, x: float) -> int:
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)


def ground_truth(
    emissions: Iterable[Emission],
    taxonomy: Taxonomy,
    *,
    now: float,
    min_cell: int = 10,
) -> MetricValues:
    """What a worker fed these emissions in this order must export (`producers.ground_truth`).

    Bad records are classified as a worker's `EventDecoder` would at wall time `now` (on the
    payments topic), and counted per reason. `taxonomy` should carry the simulated (scaled)
    population, so that coverage ratios are those of the synthetic city.
    """
    decoder = EventDecoder(taxonomy, clock=lambda: now)
    payments: list[PaymentEvent] = []
    accounts: list[AccountEvent] = []
    rejected: Counter[str] = Counter()
    for item in emissions:
        if isinstance(item, PaymentEvent):
            payments.append(item)
        elif isinstance(item, AccountEvent):
            accounts.append(item)
        else:
            rejected.update(r.reason for r in decoder.decode_payments(item.raw).rejections)
    return expected_metrics(
        payments, accounts, taxonomy, min_cell=min_cell, rejected=dict(sorted(rejected.items()))
    )


def truth_json(truth: MetricValues) -> bytes:
    """The truth as a JSON list of `{"name", "labels", "value"}`, one per line, in stable order."""
    rows = [
        msgspec.json.encode({"name": name, "labels": dict(labels), "value": value})
        for (name, labels), value in sorted(truth.values.items())
    ]
    return b"[\n" + b",\n".join(rows) + b"\n]\n"
