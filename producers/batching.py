"""Record batching, the one rule every producer follows for what goes into a Kafka record.

Events are grouped by their record key (`channel:segment` for payments, the holder for
accounts), at most `size` events go into one record, and a record whose JSON would be larger
than `max_bytes` is halved until every part fits (contract 1: one event is a JSON object,
several sharing the key a JSON array). Order within a key is kept throughout, so a consumer
sees a key's events in the order they were produced.

Two shapes of the same rule: `batches` for events that are all at hand (a gateway request, a
`send_events` call), and `KeyedBuffer` for a stream (replay, the simulator), which hands a
batch back as soon as it is full and the rest on `drain`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from cashless.schema import Event, encode, encode_batch

__all__ = ["KeyedBuffer", "batches", "encode_record", "split_oversize"]

_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)


def encode_record(events: Sequence[Event]) -> bytes:
    """The value of one record: a JSON object for one event, a JSON array for several."""
    return encode(events[0]) if len(events) == 1 else encode_batch(events)


def split_oversize(events: Sequence[Event], max_bytes: int) -> list[tuple[bytes, int]]:
    """The record values for `events` (one key), as `(value, events in it)`, each within
    `max_bytes`: a batch over the limit is halved, and its halves again, until it fits.

    A single event over the limit stays one record: the consumers reject it as `oversize`,
    which is what the contract says of it. No events, no records.
    """
    out: list[tuple[bytes, int]] = []
    if events:
        _split(events, max_bytes, out)
    return out


def _split(events: Sequence[Event], limit: int, out: list[tuple[bytes, int]]) -> None:
    value = encode_record(events)
    if len(value) > limit and len(events) > 1:
        half = len(events) // 2
        _split(events[:half], limit, out)
        _split(events[half:], limit, out)
        return
    out.append((value, len(events)))


def batches(
    items: Iterable[_T], key: Callable[[_T], _K], size: int
) -> Iterator[tuple[_K, list[_T]]]:
    """`(key, batch)` of at most `size` items sharing a key: keys in the order they first
    appear, the items of a key in their order."""
    if size < 1:
        raise ValueError(f"a batch holds at least one item, not {size}")
    groups: dict[_K, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    for k, group in groups.items():
        for start in range(0, len(group), size):
            yield k, group[start : start + size]


class KeyedBuffer(Generic[_T]):
    """Buffers a stream's items per record key and hands a key's batch back once it is full."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a batch holds at least one item, not {size}")
        self.size = size
        self._buffers: dict[str, list[_T]] = {}

    def add(self, key: str, item: _T) -> list[_T] | None:
        """Buffer `item`; return its key's batch (no longer buffered) once it holds `size`."""
        batch = self._buffers.get(key)
        if batch is None:
            self._buffers[key] = batch = []
        batch.append(item)
        if len(batch) < self.size:
            return None
        del self._buffers[key]
        return batch

    def pop(self, key: str) -> list[_T] | None:
        """Take `key`'s buffered items out now (None when there are none)."""
        return self._buffers.pop(key, None)

    def drain(self) -> list[tuple[str, list[_T]]]:
        """Take every buffered batch out, in the order their keys were first buffered."""
        buffers, self._buffers = self._buffers, {}
        return list(buffers.items())

    def __len__(self) -> int:
        """How many keys have items buffered."""
        return len(self._buffers)
