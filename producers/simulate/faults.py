"""The faults a simulated run injects: silent sources, duplicates, late events, bad records.

Every fault is drawn from its own generator (the caller's `rng`), never from the ones that make
the events, so that injecting faults or silencing a source leaves every other event exactly as
it was. `injected` counts what was put in, by kind (`bad:<fault>` per kind of bad record).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, deque
from collections.abc import Collection
from datetime import datetime

import msgspec

from cashless.schema import AccountEvent, PaymentEvent
from producers.simulate.calibration import DAY, HANOI

__all__ = ["BadRecord", "Emission", "Faults"]

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


class Faults:
    """Injects a run's faults into its emissions; see the module doc.

    `bad_records`, `duplicates` and `late` are the fractions of payments followed by a bad
    record, followed by a re-send of a recent payment, and sent late. A source in `silent`
    sends nothing from `silent_after` (Unix seconds) on. `tag` prefixes bad records' ids.
    `rng` is the faults' own generator; the model draws from it whether a payment is late, in
    its payment loop, where a call per payment would cost more than the draw.
    """

    def __init__(
        self,
        rng: random.Random,
        tag: str,
        *,
        bad_records: float,
        duplicates: float,
        late: float,
        silent: Collection[str],
        silent_after: int,
    ) -> None:
        self.rng = rng
        self.late = late
        self.silent_after = silent_after
        self.injected: Counter[str] = Counter()
        self._tag = tag
        self._bad = bad_records
        self._duplicates = duplicates
        self._silent = silent
        self._bad_seq = itertools.count()
        self._recent: deque[PaymentEvent] = deque(maxlen=_DUPLICATE_MEMORY)

    def late_delay(self) -> int:
        """How many seconds late a late payment is sent (and one more late event counted)."""
        rng = self.rng
        low, high = _LATE_LONG if rng.random() < _LATE_LONG_SHARE else _LATE_SHORT
        self.injected["late"] += 1
        return rng.randrange(low, high)

    def is_silent(self, source: str, t: int) -> bool:
        """True when `source` has gone silent by time `t`."""
        return source in self._silent and t >= self.silent_after

    def emit(self, items: list[tuple[int, Emission]]) -> list[Emission]:
        """Drop what silent sources would not send; put in duplicates and bad records."""
        dup, bad = self._duplicates, self._bad
        frnd = self.rng.random
        recent = self._recent
        out: list[Emission] = []
        for t, item in items:
            if self._silent and self.is_silent(item.source, t):
                continue
            out.append(item)
            if not isinstance(item, PaymentEvent):
                continue
            if dup and recent and frnd() < dup:
                copy = recent[int(frnd() * len(recent))]
                if not self.is_silent(copy.source, t):
                    out.append(copy)
                    self.injected["duplicates"] += 1
            recent.append(item)
            if bad and frnd() < bad:
                record = self._bad_record(item, t)
                if not self.is_silent(record.source, t):
                    out.append(record)
                    self.injected["bad_records"] += 1
        return out

    def _bad_record(self, template: PaymentEvent, t: int) -> BadRecord:
        rng = self.rng
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
