"""A batch writes only partitions the worker owns when their turn comes, and nothing while the
worker's partitions are being revoked and the tables recovered: a write of the old owner landing
in the changelog after the new owner's would be the changelog's last word on its keys, and its
local store would skip the new owner's writes when the partition comes back to it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings
from streams.batches import BatchApplier
from streams.ledger import BatchOutcome
from streams.worker import Worker


def event(partition: int, offset: int) -> Any:
    return SimpleNamespace(
        message=SimpleNamespace(partition=partition, offset=offset),
        value=f"{partition}:{offset}".encode(),
    )


class Batch:
    def __init__(self) -> None:
        self.records = 0

    def append(self, **_: Any) -> object:
        self.records += 1
        return object()

    def close(self) -> None:
        pass

    def record_count(self) -> int:
        return self.records


class Producer:
    """Records every batch sent; acknowledges them only once `release` is set."""

    def __init__(self) -> None:
        self.sent: list[int] = []  # the partition of each batch, in order
        self.release = asyncio.Event()
        self.release.set()
        self._offsets: dict[int, int] = {}
        self._acks: list[asyncio.Future[None]] = []

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        self.sent.append(partition)
        offset = self._offsets.get(partition, 0)
        self._offsets[partition] = offset + batch.record_count()
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def ack() -> None:
            await self.release.wait()
            acked.set_result(SimpleNamespace(offset=offset))

        self._acks.append(asyncio.ensure_future(ack()))
        return acked


class Store:
    def __init__(self) -> None:
        self.written: list[int] = []  # the partition of each local write, in order

    def write(self, partition: int, writes: object, offset: int) -> None:
        self.written.append(partition)

    def items(self, partition: int) -> Iterable[tuple[bytes, bytes]]:
        return []


class Ledger:
    partitions: Iterable[int] = ()

    def restore(self, key: bytes, value: bytes | None) -> dict[bytes, bytes | None]:
        return {}

    def drop(self, partition: int) -> None:
        pass


class Letters:
    async def send(self, *_: Any) -> list[Any]:
        return []


class Setup:
    def __init__(self, owned: set[int]) -> None:
        self.owned = owned
        self.generation = 1
        self.producer = Producer()
        self.store = Store()
        self.applied: list[tuple[int, list[int]]] = []

        def processor(partition: int) -> Any:
            def process(records: list[tuple[int, bytes]], excluded: object) -> BatchOutcome:
                self.applied.append((partition, [offset for offset, _ in records]))
                return BatchOutcome(writes={f"k{partition}".encode(): b"v"})

            return process

        async def producer() -> Producer:
            return self.producer

        table = SimpleNamespace(changelog_topic=SimpleNamespace(get_topic_name=lambda: "cl"))
        self.applier = BatchApplier(
            kind="payments",
            topic="events",
            table=table,
            store=self.store,  # type: ignore[arg-type]
            ledger=Ledger(),
            processor=processor,
            decode=lambda value: None,  # type: ignore[arg-type,return-value]
            producer=producer,
            letters=Letters(),  # type: ignore[arg-type]
            owned=lambda: set(self.owned),
            generation=lambda: self.generation,
            on_applied=lambda partition: None,
        )


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(test, timeout=10))


def test_only_the_owned_partitions_of_a_batch_are_applied() -> None:
    async def test() -> None:
        setup = Setup({0, 2})
        # partition 1 was revoked while its records waited in the stream
        batch = [event(1, 7), event(0, 3), event(2, 9), event(0, 4), event(1, 8)]
        await setup.applier.apply(batch)
        assert setup.applied == [(0, [3, 4]), (2, [9])]
        assert set(setup.producer.sent) == {0, 2}
        setup.owned.add(1)  # given back to this worker: applied again
        await setup.applier.apply(batch)
        assert [p for p, _ in setup.applied[2:]] == [0, 1, 2]

    run(test())


def test_a_rebalance_stops_the_writes_until_the_tables_are_recovered() -> None:
    async def test() -> None:
        setup = Setup({0, 1, 2})
        setup.producer.release.clear()  # partition 0's writes wait for Kafka
        batch = [event(0, 5), event(1, 6), event(2, 7)]
        applying = asyncio.ensure_future(setup.applier.apply(batch))
        await settle()
        assert setup.producer.sent == [0], "partition 0 is being written"

        # The worker's partitions are revoked while partition 0's writes are in flight.
        revoking = asyncio.ensure_future(setup.applier.revoking())
        await settle()
        assert not revoking.done(), "the revocation waits for the partition being written"
        setup.producer.release.set()
        await revoking
        assert setup.store.written == [0], "partition 0 is in Kafka and in the local store"

        # The group rebalances: partition 1 goes to another worker, 0 and 2 stay.
        await settle()
        assert setup.producer.sent == [0], "nothing is written during the rebalance"
        setup.generation = 2
        setup.owned = {0, 2}
        await settle()
        assert setup.producer.sent == [0], "nor before the tables are recovered"

        await setup.applier.recovered()
        await applying
        assert setup.producer.sent == [0, 2], "partition 1 is left to its new owner"
        assert [p for p, _ in setup.applied] == [0, 2]

    run(test())


def test_the_end_of_a_recovery_from_before_a_revocation_lets_nothing_through() -> None:
    async def test() -> None:
        setup = Setup({0})
        await setup.applier.revoking()  # a new rebalance began during the last recovery
        await setup.applier.recovered()  # which ends now, still in generation 1
        applying = asyncio.ensure_future(setup.applier.apply([event(0, 1)]))
        await settle()
        assert setup.producer.sent == []
        setup.generation = 2
        await setup.applier.recovered()  # recovered for the new assignment
        await applying
        assert setup.producer.sent == [0]

    run(test())


def test_the_worker_stops_its_batches_when_its_partitions_are_revoked(tmp_path: Path) -> None:
    worker = Worker(WorkerSettings(state_dir=tmp_path), KafkaSettings(), TaxonomySettings().load())
    revoked: list[str] = []
    for kind, applier in worker.appliers.items():

        async def revoking(kind: str = kind) -> None:
            revoked.append(kind)

        applier.revoking = revoking  # type: ignore[method-assign]
    asyncio.run(worker.app.on_partitions_revoked.send(set()))
    assert sorted(revoked) == ["accounts", "payments"]
