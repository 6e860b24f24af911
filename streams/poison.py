"""Events that processing fails on: found, set aside to the DLQ as `processing_error`, and the
rest of their batch applied, so that one event that trips a bug is not a crash loop.

A batch whose processing raises is retried once (a failure that depends on nothing in the batch,
say memory, may pass); if it fails again, `find_poison` looks for what it fails on by trying
prefixes of the batch (binary search: a few dozen trials for a batch of hundreds of records), and
within the record found, prefixes of its events. The caller throws every trial's state away, so
each trial starts from the state the batch started from, and applies the batch once more with the
events found excluded: the ledgers then reject them as `processing_error`, counted like every
rejection. A failure that persists with a whole record excluded is not the data's: it is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from cashless.schema import DecodeResult, Rejection

__all__ = [
    "PROCESSING_ERROR",
    "Excluded",
    "PoisonNotFound",
    "find_poison",
    "process_setting_poison_aside",
    "processing_error",
    "split_excluded",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

PROCESSING_ERROR = "processing_error"

# Record offset -> the indices (among the record's accepted events) to set aside, or None for
# the whole record.
Excluded = Mapping[int, frozenset[int] | None]
Records = Sequence[tuple[int, bytes]]


class PoisonNotFound(RuntimeError):
    """Processing fails even with the records excluded: the fault is not in the data."""


def processing_error(event: msgspec.Struct | None) -> Rejection:
    """The rejection of an event (None: a whole record) that processing failed on, twice."""
    detail = "processing failed on it twice; the worker's log has the error"
    if event is None:
        return Rejection(reason=PROCESSING_ERROR, detail=detail)
    return Rejection(
        reason=PROCESSING_ERROR,
        detail=detail,
        source=getattr(event, "source", None),
        event_id=getattr(event, "event_id", None),
    )


def process_setting_poison_aside(
    process: Callable[[Records, Excluded], T],
    records: Records,
    reload: Callable[[], None],
    events_in: Callable[[bytes], int | None],
    where: str,
) -> T:
    """`process(records, {})`, retried once; if it fails again, `process` with the events it
    fails on excluded. `reload` puts the state back as it was before the first attempt (any
    attempt may have changed it half-way); `where` names the records in the log."""
    for then in ("retrying once", "looking for the events it fails on"):
        try:
            return process(records, {})
        except Exception:
            logger.exception("processing %s failed; %s", where, then)
        reload()

    def fails(some: Records, excluded: Excluded) -> bool:
        try:
            process(some, excluded)
            return False
        except Exception:
            return True
        finally:
            reload()

    excluded = find_poison(fails, records, events_in)
    for offset, events in sorted(excluded.items()):
        logger.error(
            "processing_error: %s, offset %d, %s set aside to the dead-letter topic",
            where,
            offset,
            "the whole record" if events is None else f"events {sorted(events)} of the record",
        )
    return process(records, excluded)


def split_excluded(
    offset: int, value: bytes, decode: Callable[[bytes], DecodeResult], excluded: Excluded
) -> tuple[list[tuple[int, Any]], list[tuple[Rejection, bytes]]]:
    """One record's accepted events by index, and its rejections with the bytes kept for the
    DLQ: its own, and those of the events `excluded` sets aside (each re-encoded alone)."""
    if offset in excluded and excluded[offset] is None:
        return [], [(processing_error(None), value)]
    result = decode(value)
    out = excluded.get(offset) or frozenset()
    rejections = [(rejection, value) for rejection in result.rejections]
    events: list[tuple[int, Any]] = []
    for index, event in enumerate(result.events):
        if index in out:
            rejections.append((processing_error(event), msgspec.json.encode(event)))
        else:
            events.append((index, event))
    return events, rejections


def find_poison(
    fails: Callable[[Records, Excluded], bool],
    records: Records,
    events_in: Callable[[bytes], int | None],
) -> dict[int, frozenset[int] | None]:
    """What to exclude from `records` so that `fails(records, excluded)` no longer holds.

    `fails` processes records with events excluded, from the batch's starting state, and tells
    whether processing raised; `events_in` is the number of accepted events of a record (None
    when even decoding it raises). Raises `PoisonNotFound` when a failure remains with the record
    it points at wholly excluded.
    """
    excluded: dict[int, frozenset[int] | None] = {}
    while fails(records, excluded):
        prefix = _failing_prefix(fails, records, excluded)
        offset, value = prefix[-1]  # what fails is in the last record of the shortest prefix
        known = excluded.get(offset, frozenset())
        if known is None or fails(prefix, {**excluded, offset: None}):
            raise PoisonNotFound(f"processing fails with the record at offset {offset} excluded")
        count = events_in(value)
        if not count or fails(prefix, {**excluded, offset: known | frozenset(range(count))}):
            excluded[offset] = None  # the record itself, not one of its events
            continue
        culprit = _failing_event(fails, prefix, excluded, count)
        if culprit in known:
            raise PoisonNotFound(f"processing fails at offset {offset} only now and then")
        excluded[offset] = known | {culprit}
    return excluded


def _failing_prefix(
    fails: Callable[[Records, Excluded], bool], records: Records, excluded: Excluded
) -> Records:
    """The shortest prefix of `records` that fails."""
    return records[: _shortest_failing(lambda n: fails(records[:n], excluded), len(records))]


def _failing_event(
    fails: Callable[[Records, Excluded], bool], prefix: Records, excluded: Excluded, count: int
) -> int:
    """The index of the first of the last record's `count` events that makes `prefix` fail."""
    offset = prefix[-1][0]
    known = excluded.get(offset) or frozenset()

    def fails_with(n: int) -> bool:  # the record's first n events in, the rest set aside
        return fails(prefix, {**excluded, offset: known | frozenset(range(n, count))})

    return _shortest_failing(fails_with, count) - 1


def _shortest_failing(fails_at: Callable[[int], bool], length: int) -> int:
    """The smallest n in 1..length with `fails_at(n)`, given `fails_at(length)` and not
    `fails_at(0)`: the number of items up to and including the first one that fails."""
    passing, failing = 0, length
    while failing - passing > 1:
        middle = (passing + failing) // 2
        if fails_at(middle):
            failing = middle
        else:
            passing = middle
    return failing
