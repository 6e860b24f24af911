"""Partition summaries and the global view that merges them across workers.

District and city shares, coverage per district, stream time and the pipeline counters each
span every partition, while a worker owns only some. So each worker publishes, per partition it
owns, a small summary (window sums per district, holders per district, counters) to a compacted
topic, and every worker reads all of them. A summary replaces the previous one of its partition:
publishing is idempotent, and after a crash or a rebalance the new owner's summary, built from
the recovered state, takes over. The numbers converge to the exact ones as soon as every
partition's owner has caught up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import msgspec

from cashless.eventtime import WINDOWS, window_end
from streams.coverage import AccountLedger
from streams.ledger import PaymentLedger
from streams.partitions import PartitionMeta

__all__ = ["GlobalView", "PartitionSummary", "summarise_accounts", "summarise_payments"]


class PartitionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What one partition contributes to the city-wide numbers."""

    kind: str
    partition: int
    last_offset: int
    end: int | None = None
    stream_time: float | None = None
    districts: dict[str, dict[str, list[int]]] = msgspec.field(default_factory=dict)
    district_days: dict[str, dict[int, list[int]]] = msgspec.field(default_factory=dict)
    holders: dict[str, int] = msgspec.field(default_factory=dict)
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    duplicates: int = 0
    late: int = 0
    newest: dict[str, float] = msgspec.field(default_factory=dict)

    @property
    def key(self) -> str:
        """The summary topic's record key."""
        return f"{self.kind}:{self.partition}"

    def version(self) -> tuple[int, int]:
        """Newer summaries of one partition compare greater."""
        return self.last_offset, self.end or 0


def summarise_payments(ledger: PaymentLedger, partition: int, end: int | None) -> PartitionSummary:
    """The summary of one payments partition, its district windows ending at `end` (seconds)."""
    meta = ledger.meta(partition)
    districts: dict[str, dict[str, list[int]]] = {}
    district_days: dict[str, dict[int, list[int]]] = {}
    for district, windows, days in ledger.districts(partition, end):
        if windows is not None and any(sums[0] for sums in windows.values()):
            districts[district] = windows
        if days:
            district_days[district] = {day: list(counts) for day, counts in days.items()}
    return _summary(
        "payments", partition, meta, end=end, districts=districts, district_days=district_days
    )


def summarise_accounts(ledger: AccountLedger, partition: int) -> PartitionSummary:
    """The summary of one accounts partition."""
    meta = ledger.meta(partition)
    return _summary("accounts", partition, meta, holders=dict(ledger.holders(partition)))


def _summary(kind: str, partition: int, meta: PartitionMeta, **fields: object) -> PartitionSummary:
    return PartitionSummary(
        kind=kind,
        partition=partition,
        last_offset=meta.last_offset,
        stream_time=meta.stream_time,
        rejected=dict(meta.rejected),
        duplicates=meta.duplicates,
        late=meta.late,
        newest=dict(meta.newest),
        **fields,  # type: ignore[arg-type]
    )


class GlobalView:
    """The latest summary of every partition, and the city-wide numbers they add up to."""

    def __init__(self) -> None:
        self._summaries: dict[str, PartitionSummary] = {}

    def update(self, summary: PartitionSummary) -> bool:
        """Keep `summary` unless a newer one of its partition is known; True when kept."""
        old = self._summaries.get(summary.key)
        if old is not None and old.version() > summary.version():
            return False
        self._summaries[summary.key] = summary
        return True

    def summaries(self, kind: str) -> Iterable[PartitionSummary]:
        """The summaries of one kind (`payments` or `accounts`)."""
        return (s for s in self._summaries.values() if s.kind == kind)

    @property
    def stream_time(self) -> float | None:
        """The latest applied payment event time over all partitions."""
        times = [s.stream_time for s in self.summaries("payments") if s.stream_time is not None]
        return max(times) if times else None

    @property
    def end(self) -> int | None:
        """`e`, the end of the minute containing stream time, in seconds."""
        stream_time = self.stream_time
        return None if stream_time is None else window_end(stream_time)

    def district_windows(self) -> dict[str, dict[str, list[int]]]:
        """Count and non-cash count per district and window, summed over partitions."""
        merged: dict[str, dict[str, list[int]]] = {}
        for summary in self.summaries("payments"):
            for district, windows in summary.districts.items():
                into = merged.setdefault(district, {w: [0, 0] for w in WINDOWS})
                for window, (n, noncash) in windows.items():
                    into[window][0] += n
                    into[window][1] += noncash
        return merged

    def district_days(self) -> dict[str, dict[int, list[int]]]:
        """Count and non-cash count per district and local day, summed over partitions."""
        merged: dict[str, dict[int, list[int]]] = {}
        for summary in self.summaries("payments"):
            for district, days in summary.district_days.items():
                into = merged.setdefault(district, {})
                for day, (n, noncash) in days.items():
                    total = into.setdefault(day, [0, 0])
                    total[0] += n
                    total[1] += noncash
        return merged

    def holders(self) -> dict[str, int]:
        """Covered persons per district, summed over partitions."""
        total: Counter[str] = Counter()
        for summary in self.summaries("accounts"):
            total.update(summary.holders)
        return dict(total)

    def rejected(self) -> dict[str, int]:
        """Rejections per reason over both topics."""
        total: Counter[str] = Counter()
        for summary in self._summaries.values():
            total.update(summary.rejected)
        return dict(total)

    def duplicates(self) -> int:
        """Payment events dropped as duplicates."""
        return sum(s.duplicates for s in self.summaries("payments"))

    def late(self) -> int:
        """Payment events dropped as late."""
        return sum(s.late for s in self.summaries("payments"))

    def newest(self) -> Mapping[str, float]:
        """The newest event time per source, over both topics."""
        newest: dict[str, float] = {}
        for summary in self._summaries.values():
            for source, t in summary.newest.items():
                newest[source] = max(newest.get(source, t), t)
        return newest

    def is_current(self) -> bool:
        """True when every payments summary's district windows end at the global `e`."""
        end = self.end
        return all(s.end == end for s in self.summaries("payments") if s.districts)
