"""The payment ledger: what each Kafka record of `payments.events` does to one partition's state.

The per-event work is compiled: `cashless_kernel` (Rust, `kernel/src/`) decodes and validates
the events, takes the dedup and late decisions, and keeps the minute and hour sums and the
running window sums, in one call per batch of a partition's records. This module is its Python
face and the description of its rules and of what it persists. A record the kernel does not
accept whole goes to `cashless.schema.EventDecoder`, which rejects each bad event with its
reason (and the events set aside by `streams.poison` are decided there too).

Pure logic, no Faust: the agent hands it the records of one partition in offset order and
persists the table writes it returns; on recovery it hands back every persisted (key, value) so
the ledger rebuilds its in-memory aggregates. Neither the dedup entries nor the minutes of the
hour rows are kept in memory beyond the batch: the ledger reads them from the table's local
store through a `StateStore` (multi-gets), and keeps per segment and district only hour sums
(`kernel/src/series.rs`), reading an hour's minutes when a window starts or ends in it. Of the
dedup entries it keeps a 32-bit fingerprint each (`kernel/src/seen.rs`), so that the index is
read only for the events the store may hold an entry of: most events are new.

Counting is idempotent under at-least-once delivery. Every persisted counter carries the
position (record offset, index in the record) of the last event applied to it, and an event at
or before that position is not applied to it again. So a worker that crashes after some of a
batch's writes reached the changelog and replays the batch counts each event exactly once.
Each `(source, event_id)` is remembered with the `(offset, index)` that applied it: meeting it
again at the same place is a replay, elsewhere it is a duplicate.

What a batch persists, in this order (a crash can keep any prefix of it; the meta comes last):

- `c|P|channel|segment|district|hour` — rows `[minute, n, noncash, amount, noncash_amount,
  position]` for the minutes of one event-time hour (the position stays per minute);
- `t|P|channel|segment|method` — `[count, amount, position]`;
- `d|P|day|offset|index` — the dedup entries the batch added, rows `[channel, segment, source,
  event_id, offset, index, occurred_at]`, split by the local day of `occurred_at`, at most
  `SEEN_ROWS_PER_KEY` per key, keyed by the day and the position of the first; recovery keeps,
  per `(source, event_id)` of a segment, the entry with the larger position. Only a newly
  applied event adds a row (a replayed one does not), so a key is not rewritten with fewer
  rows; rows a crash lost are added again by the replay;
- `p|P` — the partition's meta (counters, clocks, last offset).

Besides, and only in the local store (`BatchOutcome.local`, written atomically with the batch):
`e|P|channel|segment|source|event_id` → `[offset, index, occurred_at]`, one key per dedup entry,
the index that a lookup reads. It is derived from the `d` rows: recovery rebuilds what the local
store lacks (`restore` returns those writes), and a day's index keys go when its rows expire.

So a batch writes a few keys per segment, not a few per event: the changelog, and the time to
replay it after a restart, grow with the cells touched rather than with the events.

Lateness is judged per segment: an event is late when it is older than `e − 30d`, where `e` is
the end of the minute of the latest applied event of its segment (its Kafka key). A segment's
events all pass through one partition in order, so the decision is the same however partitions
interleave, and the same again when a partition is replayed after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import cashless_kernel
import msgspec
from cashless_kernel import PaymentKernel

from cashless.eventtime import DAY, DAY_OFFSET_SECONDS, HORIZON, MINUTE, TREND_DAYS, WINDOWS
from cashless.schema import EventDecoder, PaymentEvent, Rejection
from cashless.taxonomy import CHANNELS, METHODS, NONCASH_METHODS
from streams.partitions import PartitionMeta
from streams.poison import Excluded, split_excluded

__all__ = [
    "SEEN_ROWS_PER_KEY",
    "BatchOutcome",
    "DistrictFigures",
    "PaymentLedger",
    "SegmentFigures",
    "StateStore",
    "kernel_version",
]

# Dedup rows per changelog record: a row is at most ~260 bytes (64-character ids), so a record
# stays well under Kafka's default 1 MB message limit.
SEEN_ROWS_PER_KEY = 2000


class StateStore(Protocol):
    """What the ledger reads of a partition's local store: hour rows, dedup index and rows."""

    def get_many(self, partition: int, keys: Sequence[bytes]) -> Sequence[bytes | None]:
        """The values of `keys` (None where absent), in order."""
        ...

    def scan(self, partition: int, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with `prefix`."""
        ...


@dataclass
class BatchOutcome:
    """What a batch did: table writes (None deletes a key), writes for the local store only
    (derived from the table's, not sent to the changelog), and the rejections with their input.
    """

    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    local: dict[bytes, bytes | None] = field(default_factory=dict)
    rejections: list[tuple[int, Rejection, bytes]] = field(default_factory=list)


class SegmentFigures(NamedTuple):
    """One segment's figures: totals by method `(count, amount)`, the window sums `(count,
    non-cash count, amount, non-cash amount)` per window (None without an end), and per local
    day `(count, non-cash count)`."""

    channel: str
    segment: str
    totals: dict[str, tuple[int, int]]
    windows: dict[str, list[int]] | None
    days: dict[int, tuple[int, int]]


class DistrictFigures(NamedTuple):
    """One district's figures in one partition: `(count, non-cash count)` per window (None
    without an end) and per local day."""

    district: str
    windows: dict[str, list[int]] | None
    days: dict[int, tuple[int, int]]


# An accepted event as the kernel takes it from the Python decoder: index (or position in the
# record), event_id, event time, source, channel, segment, district, method, amount.
_SlowEvent = tuple[int, str, float, str, str, str, str, str, int]
# A rejection with its reason and the bytes kept for the DLQ.
_SlowRejection = tuple[str, Rejection, bytes]


def _taken(index: int, e: PaymentEvent) -> _SlowEvent:
    return (
        index,
        e.event_id,
        e.occurred_at.timestamp(),
        e.source,
        e.channel,
        e.segment,
        e.district,
        e.method,
        e.amount_vnd,
    )


class PaymentLedger:
    """Validates, deduplicates and aggregates payment events, per partition."""

    def __init__(
        self, decoder: EventDecoder, store: StateStore, windows: Mapping[str, int] = WINDOWS
    ) -> None:
        """`windows`: the rolling windows kept (name -> seconds, whole hours), the contract's
        unless a benchmark measures fewer."""
        self._decoder = decoder
        taxonomy = decoder.taxonomy
        self._kernel = PaymentKernel(
            store,
            windows=[(name, seconds // MINUTE) for name, seconds in windows.items()],
            horizon_seconds=HORIZON,
            trend_days=TREND_DAYS,
            day_seconds=DAY,
            day_offset_seconds=DAY_OFFSET_SECONDS,
            segments={channel: set(taxonomy.segments_of(channel)) for channel in CHANNELS},
            districts=set(taxonomy.districts),
            methods=list(METHODS),
            noncash_methods=set(NONCASH_METHODS),
            max_record_bytes=decoder.max_record_bytes,
            seen_rows_per_key=SEEN_ROWS_PER_KEY,
        )

    # -- reading --------------------------------------------------------------------------------

    @property
    def decoder(self) -> EventDecoder:
        """The decoder of the records the kernel does not accept whole."""
        return self._decoder

    @property
    def partitions(self) -> list[int]:
        """The partitions whose state this ledger holds."""
        return self._kernel.partitions()

    def meta(self, partition: int) -> PartitionMeta:
        """The counters and clocks of one partition (made empty on first use)."""
        return msgspec.json.decode(self._kernel.meta(partition), type=PartitionMeta)

    @property
    def stream_time(self) -> float | None:
        """The latest applied event time over every partition held."""
        return self._kernel.stream_time()

    def segments(self, partition: int, end: int | None) -> list[SegmentFigures]:
        """The figures of one partition's segments, windows ending at `end` (seconds)."""
        return [
            SegmentFigures(channel, segment, totals, windows, days)
            for channel, segment, totals, (windows, days) in self._kernel.segments(
                partition, None if end is None else end // MINUTE
            )
        ]

    def districts(self, partition: int, end: int | None) -> list[DistrictFigures]:
        """The figures of one partition's districts, windows ending at `end` (seconds)."""
        return [
            DistrictFigures(district, windows, days)
            for district, (windows, days) in self._kernel.districts(
                partition, None if end is None else end // MINUTE
            )
        ]

    # -- processing -----------------------------------------------------------------------------

    def process(
        self,
        partition: int,
        records: Sequence[tuple[int, bytes]],
        excluded: Excluded | None = None,
    ) -> BatchOutcome:
        """Apply the `(offset, value)` records of one partition, in offset order; the events
        (or records) in `excluded` are rejected as `processing_error` (`streams.poison`)."""
        excluded = excluded or {}
        writes, local, rejections = self._kernel.process(
            partition,
            list(records),
            self._slow(excluded),
            self._slow_items,
            set(excluded),
            self._decoder.latest_allowed(),
        )
        return BatchOutcome(writes, local, rejections)

    def _slow(
        self, excluded: Excluded
    ) -> Callable[[int, bytes], tuple[list[_SlowEvent], list[_SlowRejection]]]:
        """A whole record as the Python decoder decides it, `excluded` set aside."""
        decode = self._decoder.decode_payments

        def slow(offset: int, value: bytes) -> tuple[list[_SlowEvent], list[_SlowRejection]]:
            events, rejections = split_excluded(offset, value, decode, excluded)
            return (
                [_taken(index, e) for index, e in events],
                [(rejection.reason, rejection, raw) for rejection, raw in rejections],
            )

        return slow

    def _slow_items(
        self, _offset: int, value: bytes, items: list[tuple[int, str]]
    ) -> tuple[list[_SlowEvent], list[_SlowRejection]] | None:
        """The items `(position, JSON text)` of an array record the kernel did not accept, as
        the decoder decides them; `value` is the whole record, kept for the DLQ."""
        found = self._decoder.decode_payment_items(items)
        if found is None:
            return None
        events, rejections = found
        return (
            [_taken(at, e) for at, e in events],
            [(rejection.reason, rejection, value) for rejection in rejections],
        )

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._kernel.drop(partition)

    # -- recovery -------------------------------------------------------------------------------

    def restore(self, key: bytes, value: bytes | None) -> dict[bytes, bytes | None]:
        """Rebuild from one persisted (key, value), each key once, from a store that holds them
        all (a None value is a deletion). Returns the writes the local store needs to index
        what it holds (see `BatchOutcome.local`)."""
        return self._kernel.restore(key, value)


def kernel_version() -> str:
    """The compiled kernel's version."""
    return cashless_kernel.__version__
