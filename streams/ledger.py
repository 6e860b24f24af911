"""The payment ledger: what each Kafka record of `payments.events` does to one partition's state.

(Over 400 lines on purpose: the batch's decisions, the hour-row cache they read and write, the
sweep and the recovery share one private partition state; apart, each would have to expose it.)

Pure logic, no Faust: the agent hands it the records of one partition in offset order and
persists the table writes it returns; on recovery it hands back every persisted (key, value) so
the ledger rebuilds its in-memory aggregates. Neither the dedup entries nor the minutes of the
hour rows are kept in memory beyond the batch: the ledger reads them from the table's local
store through a `StateStore` (multi-gets), and keeps per segment and district only hour sums
(`streams.windows`), reading an hour's minutes when a window starts or ends in it.

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

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import msgspec

from cashless.eventtime import DAY, HORIZON, MINUTE, TREND_DAYS, local_day, window_end
from cashless.schema import DecodeResult, EventDecoder, PaymentEvent, Rejection
from cashless.taxonomy import NONCASH_METHODS
from streams.partitions import PartitionMeta, PartitionStates
from streams.poison import Excluded, split_excluded
from streams.windows import MinuteSeries

__all__ = [
    "SEEN_ROWS_PER_KEY",
    "BatchOutcome",
    "PaymentLedger",
    "SegmentCells",
    "StateStore",
]

# Dedup rows per changelog record: a row is at most ~260 bytes (64-character ids), so a record
# stays well under Kafka's default 1 MB message limit.
SEEN_ROWS_PER_KEY = 2000
_HORIZON_MINUTES = HORIZON // MINUTE
_HOUR_MINUTES = 60
# A counter remembers the position (offset, index in the record) of the last event applied to it.
_INDEX_BITS = 20
_encode = msgspec.json.encode
_decode = msgspec.json.decode
# A dedup row: channel, segment, source, event_id, offset, index, occurred_at
_SeenRow = tuple[str, str, str, str, int, int, float]
_decode_seen = msgspec.json.Decoder(list[_SeenRow]).decode
_decode_hour = msgspec.json.Decoder(list[list[int]]).decode
# A dedup entry in the index: offset, index, occurred_at
_decode_entry = msgspec.json.Decoder(tuple[int, int, float]).decode


class StateStore(Protocol):
    """What the ledger reads of a partition's local store: hour rows, dedup index and rows."""

    def get_many(self, partition: int, keys: Sequence[bytes]) -> Sequence[bytes | None]:
        """The values of `keys` (None where absent), in order."""
        ...

    def scan(self, partition: int, prefix: bytes) -> Iterable[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with `prefix`."""
        ...


@dataclass
class SegmentCells:
    """The in-memory aggregates of one segment: its window sums (hour sums, minutes read from
    its hour rows), daily shares, totals by method, and the districts it has hour rows in."""

    minutes: MinuteSeries
    days: dict[int, list[int]] = field(default_factory=dict)
    totals: dict[str, list[int]] = field(default_factory=dict)
    districts: set[str] = field(default_factory=set)


@dataclass
class BatchOutcome:
    """What a batch did: table writes (None deletes a key), writes for the local store only
    (derived from the table's, not sent to the changelog), and the rejections with their input.
    """

    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    local: dict[bytes, bytes | None] = field(default_factory=dict)
    rejections: list[tuple[int, Rejection, bytes]] = field(default_factory=list)


_HourKey = tuple[str, str, str, int]  # channel, segment, district, hour


@dataclass
class _Partition:
    number: int
    store: StateStore
    meta: PartitionMeta = field(default_factory=PartitionMeta)
    # (channel, segment, district, hour) -> minute -> [n, noncash, amount, noncash_amount,
    # position]: the hour rows read or written lately, a cache of the store (`_rows`); every row
    # a batch changed stays here until the next batch starts, by when the store holds it
    cells: dict[_HourKey, dict[int, list[int]]] = field(default_factory=dict)
    # (channel, segment, method) -> [count, amount, position]
    totals: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    # local day of the dedup rows -> `channel:segment` -> newest occurred_at, for pruning
    seen_days: dict[int, dict[str, float]] = field(default_factory=dict)
    segments: dict[tuple[str, str], SegmentCells] = field(default_factory=dict)
    districts: dict[str, MinuteSeries] = field(default_factory=dict)
    # district -> local day -> [count, non-cash count], for the district and city trends
    district_days: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    # district -> the segments with hour rows in it
    district_segments: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    swept_before: int = 0


def _rows(state: _Partition, keys: Sequence[_HourKey]) -> list[dict[int, list[int]] | None]:
    """The hour rows of `keys` (None where there are none), from the cache or the store."""
    swept = state.swept_before // _HOUR_MINUTES  # rows before it are deleted or being deleted
    missing = [k for k in keys if k not in state.cells and k[3] >= swept]
    if missing:
        p = str(state.number)
        stored = state.store.get_many(
            state.number, [_key("c", p, c, s, d, str(h)) for c, s, d, h in missing]
        )
        for key, value in zip(missing, stored, strict=True):
            if value is not None:
                state.cells[key] = {minute: cell for minute, *cell in _decode_hour(value)}
    return [state.cells.get(k) for k in keys]


def _merged(rows: Iterable[dict[int, list[int]] | None], width: int) -> dict[int, list[int]]:
    """The first `width` counters of hour rows, added up per minute."""
    merged: dict[int, list[int]] = {}
    for hour in rows:
        for minute, cell in (hour or {}).items():
            total = merged.get(minute)
            if total is None:
                merged[minute] = list(cell[:width])
            else:
                for i in range(width):
                    total[i] += cell[i]
    return merged


def _segment_cells(state: _Partition, channel: str, segment: str) -> SegmentCells:
    cells = state.segments.get((channel, segment))
    if cells is None:
        districts: set[str] = set()

        def detail(hour: int) -> dict[int, list[int]]:
            keys = [(channel, segment, d, hour) for d in sorted(districts)]
            return _merged(_rows(state, keys), 4)

        cells = SegmentCells(MinuteSeries(4, detail), districts=districts)
        state.segments[channel, segment] = cells
    return cells


def _district_series(state: _Partition, district: str) -> MinuteSeries:
    series = state.districts.get(district)
    if series is None:
        segments = state.district_segments.setdefault(district, set())

        def detail(hour: int) -> dict[int, list[int]]:
            keys = [(c, s, district, hour) for c, s in sorted(segments)]
            return _merged(_rows(state, keys), 2)

        series = state.districts[district] = MinuteSeries(2, detail)
    return series


def _aggregate(
    state: _Partition,
    key: tuple[str, str],
    cells: SegmentCells,
    district: str,
    minute: int,
    values: Sequence[int],
) -> None:
    """Add `values` of one minute to the segment's minutes and days and to its district."""
    if district not in cells.districts:
        cells.districts.add(district)
        state.district_segments.setdefault(district, set()).add(key)
    cells.minutes.add(minute, values)
    day_index = local_day(minute * MINUTE)
    day = cells.days.get(day_index)
    if day is None:
        day = cells.days[day_index] = [0, 0]
    day[0] += values[0]
    day[1] += values[1]
    district_days = state.district_days.setdefault(district, {})
    district_day = district_days.get(day_index)
    if district_day is None:
        district_day = district_days[day_index] = [0, 0]
    district_day[0] += values[0]
    district_day[1] += values[1]
    # a series adds its own width's first values
    _district_series(state, district).add(minute, values)


class _SegmentContext:
    """One segment's state as a batch sees it, looked up once per batch instead of per event."""

    __slots__ = ("cells", "channel", "clock", "horizon", "key", "name")

    def __init__(self, state: _Partition, channel: str, segment: str) -> None:
        self.channel = channel
        self.name = segment
        self.key = f"{channel}:{segment}"
        self.cells = _segment_cells(state, channel, segment)
        self.clock = state.meta.clocks.get(self.key)
        self.horizon = None if self.clock is None else window_end(self.clock) - HORIZON


class _Batch:
    """The working set of one batch: its segments, and the keys it must persist."""

    __slots__ = ("dirty_cells", "dirty_totals", "new_seen", "segments", "state")

    def __init__(self, state: _Partition) -> None:
        self.state = state
        self.segments: dict[tuple[str, str], _SegmentContext] = {}
        self.dirty_cells: set[tuple[str, str, str, int]] = set()
        self.dirty_totals: set[tuple[str, str, str]] = set()
        self.new_seen: list[_SeenRow] = []

    def segment(self, channel: str, segment: str) -> _SegmentContext:
        """The context of one segment, made on its first event in the batch."""
        context = self.segments.get((channel, segment))
        if context is None:
            context = self.segments[channel, segment] = _SegmentContext(
                self.state, channel, segment
            )
        return context

    def apply(self, segment: _SegmentContext, position: int, event: PaymentEvent, t: float) -> None:
        """Add one event to every counter that does not hold it yet, and move the clocks."""
        state = self.state
        minute = int(t // MINUTE)
        amount = event.amount_vnd
        district = event.district
        hour_key = (segment.channel, segment.name, district, minute // _HOUR_MINUTES)
        hour = state.cells.get(hour_key)
        if hour is None:
            hour = state.cells[hour_key] = {}
        cell = hour.get(minute)
        if cell is None:
            cell = hour[minute] = [0, 0, 0, 0, -1]
        if position > cell[4]:
            noncash = event.method in NONCASH_METHODS
            values = (1, 1, amount, amount) if noncash else (1, 0, amount, 0)
            cell[0] += 1
            cell[1] += values[1]
            cell[2] += amount
            cell[3] += values[3]
            cell[4] = position
            self.dirty_cells.add(hour_key)
            _aggregate(
                state, (segment.channel, segment.name), segment.cells, district, minute, values
            )
        total_key = (segment.channel, segment.name, event.method)
        total = state.totals.get(total_key)
        if total is None:
            total = state.totals[total_key] = [0, 0, -1]
        if position > total[2]:
            total[0] += 1
            total[1] += amount
            total[2] = position
            self.dirty_totals.add(total_key)
            segment.cells.totals[event.method] = total
        if segment.clock is None or t > segment.clock:
            segment.clock = state.meta.clocks[segment.key] = t
            segment.horizon = window_end(t) - HORIZON
        meta = state.meta
        if meta.stream_time is None or t > meta.stream_time:
            meta.stream_time = t


class PaymentLedger(PartitionStates[_Partition]):
    """Validates, deduplicates and aggregates payment events, per partition."""

    def __init__(self, decoder: EventDecoder, store: StateStore) -> None:
        super().__init__(lambda partition: _Partition(partition, store))
        self._decoder = decoder
        self._store = store

    # -- reading --------------------------------------------------------------------------------

    def segments(self, partition: int) -> Mapping[tuple[str, str], SegmentCells]:
        """The aggregates of the segments of one partition."""
        return self.state(partition).segments

    def districts(self, partition: int) -> Mapping[str, MinuteSeries]:
        """Count and non-cash count per district and minute, for one partition's events."""
        return self.state(partition).districts

    def district_days(self, partition: int) -> Mapping[str, Mapping[int, list[int]]]:
        """Count and non-cash count per district and local day, for one partition's events."""
        return self.state(partition).district_days

    @property
    def stream_time(self) -> float | None:
        """The latest applied event time over every partition held."""
        times = [p.meta.stream_time for p in self.states() if p.meta.stream_time]
        return max(times) if times else None

    # -- processing -----------------------------------------------------------------------------

    def process(
        self,
        partition: int,
        records: Sequence[tuple[int, bytes]],
        excluded: Excluded | None = None,
    ) -> BatchOutcome:
        """Apply the `(offset, value)` records of one partition, in offset order; the events
        (or records) in `excluded` are rejected as `processing_error` (`streams.poison`)."""
        state = self.state(partition)
        meta = state.meta
        outcome = BatchOutcome()
        p = str(partition)
        # Sweep before the batch, on the clocks the previous batch persisted, and on no clock
        # from outside the partition (not the stream time other workers publish): a deletion
        # that reaches the changelog without the rest of this batch then agrees with the meta
        # that recovery finds, and replaying the batch takes the same decisions as the first
        # time, whatever the other partitions did meanwhile.
        known = meta.stream_time
        # Hour rows of earlier batches are in the store by now: keep only the latest hours.
        if known is not None:
            recent = window_end(known) // MINUTE // _HOUR_MINUTES - 1
            for c in [c for c in state.cells if c[3] < recent]:
                del state.cells[c]
        self._sweep(state, known, outcome)
        batch = _Batch(state)
        decode = self._decoder.decode_payments
        decoded = [_decoded(offset, value, decode, excluded or {}) for offset, value in records]
        # One pass over the batch's events for their times, the hour rows they go to (read from
        # the store where not cached) and their dedup index keys, read in one go; entries the
        # batch adds go in the same dict, so a re-send within the batch is caught too.
        times: list[float] = []
        wanted: list[bytes] = []
        hours: set[_HourKey] = set()
        for record in decoded:
            for _, e in record.events:
                t = e.occurred_at.timestamp()
                times.append(t)
                hours.add((e.channel, e.segment, e.district, int(t // MINUTE) // _HOUR_MINUTES))
                wanted.append(_seen_key(p, e.channel, e.segment, e.source, e.event_id))
        _rows(state, list(hours))
        seen: dict[bytes, tuple[int, int, float] | None] = {
            key: None if stored is None else _decode_entry(stored)
            for key, stored in zip(wanted, self._store.get_many(partition, wanted), strict=True)
        }
        per_event = zip(wanted, times, strict=True)
        newest = meta.newest
        rejected = meta.rejected
        segment: _SegmentContext | None = None
        for record in decoded:
            offset = record.offset
            fresh = offset > meta.last_offset
            for rejection, raw in record.rejections:
                outcome.rejections.append((offset, rejection, raw))
                if fresh:
                    rejected[rejection.reason] = rejected.get(rejection.reason, 0) + 1
            for index, event in record.events:
                seen_key, t = next(per_event)
                if fresh:
                    previous = newest.get(event.source)
                    if previous is None or t > previous:
                        newest[event.source] = t
                # the events of a record share its key: look a segment up once per record
                if (
                    segment is None
                    or event.segment != segment.name
                    or event.channel != segment.channel
                ):
                    segment = batch.segment(event.channel, event.segment)
                entry = seen[seen_key]
                if entry is None or entry[0] != offset or entry[1] != index:  # not a replay
                    horizon = segment.horizon
                    if horizon is not None and t < horizon:
                        meta.late += fresh
                        continue
                    if entry is not None and (horizon is None or entry[2] >= horizon):
                        meta.duplicates += fresh
                        continue
                    seen[seen_key] = (offset, index, t)
                    outcome.local[seen_key] = _encode((offset, index, t))
                    ids = (event.channel, event.segment, event.source, event.event_id)
                    batch.new_seen.append((*ids, offset, index, t))
                batch.apply(segment, (offset << _INDEX_BITS) | index, event, t)
            if fresh:
                meta.last_offset = offset
        for c in batch.dirty_cells:
            rows = [[minute, *cell] for minute, cell in sorted(state.cells[c].items())]
            outcome.writes[_key("c", p, c[0], c[1], c[2], str(c[3]))] = _encode(rows)
        for tk in batch.dirty_totals:
            outcome.writes[_key("t", p, *tk)] = _encode(state.totals[tk])
        by_day: dict[int, list[_SeenRow]] = {}
        for row in batch.new_seen:
            by_day.setdefault(local_day(row[6]), []).append(row)
        for day, day_rows in by_day.items():
            for start in range(0, len(day_rows), SEEN_ROWS_PER_KEY):
                chunk = day_rows[start : start + SEEN_ROWS_PER_KEY]
                key = _key("d", p, str(day), str(chunk[0][4]), str(chunk[0][5]))
                outcome.writes[key] = _encode(chunk)
            _note_day(state, day, day_rows)
        outcome.writes[_key("p", p)] = _encode(meta)
        return outcome

    def _sweep(self, state: _Partition, clock: float | None, out: BatchOutcome) -> None:
        """Forget what can no longer matter: once per event-time day, not per batch."""
        if clock is None:
            return
        p = str(state.number)
        end = window_end(clock) // MINUTE
        oldest_day = local_day(clock) - TREND_DAYS
        before = min(end - _HORIZON_MINUTES, (oldest_day * DAY - 7 * 3600) // MINUTE)
        before -= before % _HOUR_MINUTES  # whole hours, as cells are persisted
        if before - state.swept_before < DAY // MINUTE:
            return
        state.swept_before = before
        before_hour = before // _HOUR_MINUTES
        for c in [c for c in state.cells if c[3] < before_hour]:
            del state.cells[c]
        # the store's rows of those hours: a segment has one per district it has events in
        for (channel, segment), cells in state.segments.items():
            for hour in [h for h in cells.minutes.hours() if h < before_hour]:
                for district in sorted(cells.districts):
                    out.writes[_key("c", p, channel, segment, district, str(hour))] = None
        # A day's dedup rows go once each of their segments' horizon has passed them: an entry
        # older than its segment's horizon can no longer make an event a duplicate.
        horizons = {s: window_end(c) - HORIZON for s, c in state.meta.clocks.items()}
        for day, newest in list(state.seen_days.items()):
            if all(t < horizons.get(s, -math.inf) for s, t in newest.items()):
                del state.seen_days[day]
                self._forget_day(state.number, day, out)
        for cells in state.segments.values():
            cells.minutes.prune(before)
            for day in [d for d in cells.days if d < oldest_day]:
                del cells.days[day]
        for days in state.district_days.values():
            for day in [d for d in days if d < oldest_day]:
                del days[day]
        for series in state.districts.values():
            series.prune(before)

    def _forget_day(self, partition: int, day: int, out: BatchOutcome) -> None:
        """Delete the dedup rows of one local day, and the index keys that still point at them."""
        p = str(partition)
        positions: dict[bytes, set[tuple[int, int]]] = {}
        for key, value in self._store.scan(partition, _key("d", p, str(day), "")):
            out.writes[key] = None
            for channel, segment, source, event_id, offset, index, _ in _decode_seen(value):
                seen_key = _seen_key(p, channel, segment, source, event_id)
                positions.setdefault(seen_key, set()).add((offset, index))
        keys = list(positions)
        for seen_key, stored in zip(keys, self._store.get_many(partition, keys), strict=True):
            if stored is not None and _decode_entry(stored)[:2] in positions[seen_key]:
                out.local[seen_key] = None

    # -- recovery -------------------------------------------------------------------------------

    def restore(self, key: bytes, value: bytes | None) -> dict[bytes, bytes | None]:
        """Rebuild from one persisted (key, value), each key once, from a store that holds them
        all (a None value is a deletion). Returns the writes the local store needs to index
        what it holds (see `BatchOutcome.local`)."""
        local: dict[bytes, bytes | None] = {}
        kind, partition, *rest = key.decode().split("|")
        state = self.state(int(partition))
        if kind == "p" and value is not None:
            state.meta = msgspec.json.decode(value, type=PartitionMeta)
        elif kind == "c":
            channel, segment, district, _ = rest
            cells = _segment_cells(state, channel, segment)
            if value is not None:  # the rows stay in the store, their sums come here
                for minute, *cell in _decode_hour(value):
                    _aggregate(state, (channel, segment), cells, district, minute, cell[:4])
        elif kind == "t":
            channel, segment, method = rest
            if value is not None:
                total = state.totals[channel, segment, method] = _decode(value)
                _segment_cells(state, channel, segment).totals[method] = total
        elif kind == "d" and value is not None:
            # The index keys of these rows that the local store lacks or holds older entries
            # for (rows recovered from the changelog rather than written by this store's batches).
            rows = _decode_seen(value)
            _note_day(state, int(rest[0]), rows)
            newest: dict[bytes, tuple[int, int, float]] = {}
            for channel, segment, source, event_id, offset, index, t in rows:
                newest[_seen_key(partition, channel, segment, source, event_id)] = (
                    offset,
                    index,
                    t,
                )
            keys = list(newest)
            for seen_key, stored in zip(
                keys, self._store.get_many(int(partition), keys), strict=True
            ):
                entry = newest[seen_key]
                if stored is None or _decode_entry(stored)[:2] < entry[:2]:
                    local[seen_key] = _encode(entry)
        return local


class _Record(NamedTuple):
    """One record as a batch applies it: its accepted events by index, and its rejections with
    the bytes that go to the DLQ."""

    offset: int
    events: list[tuple[int, PaymentEvent]]
    rejections: list[tuple[Rejection, bytes]]


def _decoded(
    offset: int, value: bytes, decode: Callable[[bytes], DecodeResult], excluded: Excluded
) -> _Record:
    """Decode one record, setting its `excluded` events (or all of it) aside as rejections."""
    events, rejections = split_excluded(offset, value, decode, excluded)
    return _Record(offset, events, rejections)


def _seen_key(p: str, channel: str, segment: str, source: str, event_id: str) -> bytes:
    """The dedup index key of one `(source, event_id)` of a segment, in partition `p`."""
    return f"e|{p}|{channel}|{segment}|{source}|{event_id}".encode()


def _key(*parts: str) -> bytes:
    return "|".join(parts).encode()


def _note_day(state: _Partition, day: int, rows: Iterable[_SeenRow]) -> None:
    """Remember the newest occurred_at per segment (`channel:segment`) among a day's rows."""
    newest = state.seen_days.setdefault(day, {})
    for channel, segment, *_, t in rows:
        key = f"{channel}:{segment}"
        if t > newest.get(key, -math.inf):
            newest[key] = t
