"""The producers' one record-batching rule: by key, at most N events and B bytes per record."""

from __future__ import annotations

import msgspec
import pytest

from cashless.schema import PaymentEvent, encode
from producers.batching import KeyedBuffer, batches, encode_record, split_oversize
from tests.unit.test_kafka_sink import payments


def payment(i: int, segment: str = "water") -> PaymentEvent:
    """Event `e{i}` of `segment` (the sink tests' events)."""
    return payments(i + 1, segment)[i]


def decoded(values: list[bytes]) -> list[PaymentEvent]:
    decoder = msgspec.json.Decoder(PaymentEvent | list[PaymentEvent])
    out: list[PaymentEvent] = []
    for value in values:
        item = decoder.decode(value)
        out.extend(item if isinstance(item, list) else [item])
    return out


def test_one_event_is_an_object_and_several_an_array() -> None:
    events = [payment(0), payment(1)]
    assert encode_record(events[:1]) == encode(events[0])
    assert encode_record(events) == b"[" + encode(events[0]) + b"," + encode(events[1]) + b"]"


def test_a_batch_within_the_limit_is_one_record() -> None:
    events = [payment(i) for i in range(5)]
    assert split_oversize(events, 1_000_000) == [(encode_record(events), 5)]
    assert split_oversize([], 1_000_000) == []


def test_an_oversize_batch_is_halved_until_every_part_fits() -> None:
    events = [payment(i) for i in range(37)]
    one = len(encode(events[0]))
    limit = 6 * one  # an array of five events fits, one of nine does not
    records = split_oversize(events, limit)
    assert all(len(value) <= limit for value, _ in records)
    assert [count for _, count in records] == [len(decoded([v])) for v, _ in records]
    assert sum(count for _, count in records) == 37
    assert decoded([value for value, _ in records]) == events, "order is kept"
    # Halving, not greedy packing: 37 -> 18 + 19 -> 9, 9, 9, 10 -> 4, 5, 4, 5, 4, 5, 5, 5.
    assert [count for _, count in records] == [4, 5, 4, 5, 4, 5, 5, 5]


def test_a_single_event_over_the_limit_stays_whole() -> None:
    event = payment(0)
    assert split_oversize([event], 10) == [(encode(event), 1)]


def test_batches_group_by_key_in_first_seen_order_and_cap_the_size() -> None:
    events = [payment(0, "water"), payment(1, "tax"), *(payment(i, "water") for i in range(2, 7))]
    got = [(key, [e.event_id for e in batch]) for key, batch in batches(events, _key, 3)]
    assert got == [
        ("utility:water", ["e0", "e2", "e3"]),
        ("utility:water", ["e4", "e5", "e6"]),
        ("utility:tax", ["e1"]),
    ]
    with pytest.raises(ValueError, match="at least one"):
        list(batches(events, _key, 0))


def test_the_keyed_buffer_hands_back_a_full_batch_and_drains_the_rest() -> None:
    buffer: KeyedBuffer[int] = KeyedBuffer(3)
    assert buffer.add("a", 1) is None
    assert buffer.add("b", 2) is None
    assert buffer.add("a", 3) is None
    assert buffer.add("a", 4) == [1, 3, 4]
    assert len(buffer) == 1, "a full batch is no longer buffered"
    assert buffer.add("a", 5) is None
    assert buffer.pop("b") == [2]
    assert buffer.pop("b") is None
    buffer.add("c", 6)
    assert buffer.drain() == [("a", [5]), ("c", [6])]
    assert buffer.drain() == []
    with pytest.raises(ValueError, match="at least one"):
        KeyedBuffer(0)


def _key(event: PaymentEvent) -> str:
    return event.key
