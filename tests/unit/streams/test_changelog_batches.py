"""A batch's changelog writes go to Kafka as whole record batches, in order, split where a
batch is full; the local store records the offset of the last write."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder

from streams.batches import send_batches


class Producer:
    """aiokafka's batch API with its real `BatchBuilder` of `batch_size` bytes; each batch sent
    gets the next offsets of its partition."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.batches: list[tuple[str, int, int]] = []  # topic, partition, records
        self._next: dict[int, int] = {}

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        assert batch.closed(), "a batch is closed before it is sent"
        base = self._next.get(partition, 0)
        self._next[partition] = base + batch.record_count()
        self.batches.append((topic, partition, batch.record_count()))
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(type("Metadata", (), {"offset": base})())
        return done


def sent(producer: Producer, writes: dict[bytes, bytes | None]) -> list[tuple[int, int]]:
    async def go() -> list[tuple[int, int]]:
        batches = await send_batches(producer, "cl", 3, writes)
        return [((await future).offset, count) for future, count in batches]

    return asyncio.run(go())


def test_writes_that_fit_go_in_one_batch() -> None:
    producer = Producer(batch_size=16384)
    writes: dict[bytes, bytes | None] = {f"k{i}".encode(): b"v" * 10 for i in range(50)}
    writes[b"gone"] = None  # a deletion is a record too
    assert sent(producer, writes) == [(0, 51)]
    assert producer.batches == [("cl", 3, 51)]


def test_a_full_batch_is_sent_and_the_rest_follow_in_order() -> None:
    producer = Producer(batch_size=1000)
    writes: dict[bytes, bytes | None] = {f"k{i:03}".encode(): b"v" * 100 for i in range(40)}
    batches = sent(producer, writes)
    assert len(batches) > 3
    assert sum(count for _, count in batches) == 40
    offsets = [offset for offset, _ in batches]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0
    last_offset, last_count = batches[-1]
    assert last_offset + last_count - 1 == 39  # what the applier stores as the changelog offset


def test_a_record_larger_than_a_batch_goes_alone() -> None:
    producer = Producer(batch_size=1000)
    writes: dict[bytes, bytes | None] = {b"a": b"x" * 10, b"big": b"y" * 5000, b"c": b"z"}
    assert [count for _, count in sent(producer, writes)] == [1, 1, 1]


def test_no_writes_send_nothing() -> None:
    producer = Producer(batch_size=1000)
    assert sent(producer, {}) == []
    assert producer.batches == []
