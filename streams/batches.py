"""Applying one input topic's batches: the ledger's decisions, then the changelog, the DLQ and
the local store, in that order, partition by partition.

The writes go, in the ledger's order, to the changelog partition of the records they came from
(Faust would otherwise take the partition of whichever event is "current"), straight to the
Kafka producer in whole record batches (`send_batch`, a few per partition and batch): Faust's
send buffer can give up flushing after 0.1 s before a commit and let offsets be committed ahead
of the state they produced, and a send per record costs ~30 µs in futures and callbacks
(~100 µs through `Topic.send`). Only once Kafka acknowledged them do they reach the local store,
with the changelog offset of the last, so that the store is always a prefix of the changelog.

A rebalance stops the writes: from the moment the worker's partitions are revoked until the
tables are recovered for the new assignment, no partition is written (`revoking` waits for the
partition being written, so that all it sent is in Kafka before the worker rejoins the group),
and a partition is written only if the worker owns it when its turn comes, not only when the
batch started. A write of the old owner landing after the new owner's would otherwise be the
changelog's last word on its keys, and the old owner's local store would hold an offset past the
new owner's writes, which its recovery then skips when the partition comes back to it.

A partition's records whose processing raises are processed again once, from the state the
batch started from (reloaded from the local store: a failed attempt may have changed the
ledger half-way); if that fails too, the events it fails on are found and rejected as
`processing_error` (`streams.poison`) and the rest applied. Everything else that fails — Kafka
not taking the writes, a fault not in the data — ends the worker before any commit
(`run_whole_batch`), and a restarted worker replays the batch, counting each event once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, Protocol

from faust.types import EventT

from cashless.schema import DecodeResult
from streams.dead_letters import DeadLetters
from streams.ledger import BatchOutcome
from streams.local_store import LocalStore
from streams.poison import Excluded, PoisonNotFound, Records, process_setting_poison_aside

__all__ = [
    "BatchApplier",
    "BatchProducer",
    "Ledger",
    "Process",
    "by_partition",
    "run_whole_batch",
    "send_batches",
]

logger = logging.getLogger(__name__)

EXIT_BATCH_FAILED = 70  # EX_SOFTWARE

# Processes one partition's records with some of their events excluded.
Process = Callable[[Records, Excluded], BatchOutcome]


class RecordBatch(Protocol):
    """A Kafka record batch being built (aiokafka's `BatchBuilder`)."""

    def append(self, *, timestamp: float | None, key: bytes, value: bytes | None) -> Any:
        """Add a record; None when the batch is full (its first record always fits)."""
        ...

    def close(self) -> None: ...

    def record_count(self) -> int: ...


class BatchProducer(Protocol):
    """What the applier needs of a Kafka producer (aiokafka's `AIOKafkaProducer`)."""

    def create_batch(self) -> RecordBatch: ...

    async def send_batch(
        self, batch: RecordBatch, topic: str, *, partition: int
    ) -> Awaitable[Any]: ...


class Ledger(Protocol):
    """What the applier needs of a ledger besides processing: its partitions and recovery."""

    @property
    def partitions(self) -> Iterable[int]: ...

    def restore(self, key: bytes, value: bytes | None) -> dict[bytes, bytes | None]: ...

    def drop(self, partition: int) -> None: ...


class BatchApplier:
    """Applies the batches of one input topic to its ledger, table and local store."""

    def __init__(
        self,
        *,
        kind: str,
        topic: str,
        table: Any,
        store: LocalStore,
        ledger: Ledger,
        processor: Callable[[int], Process],
        decode: Callable[[bytes], DecodeResult],
        producer: Callable[[], Awaitable[BatchProducer]],
        letters: DeadLetters,
        owned: Callable[[], set[int]],
        generation: Callable[[], int],
        on_applied: Callable[[int], None],
    ) -> None:
        self.kind = kind
        self.topic = topic
        self.store = store
        self._table = table
        self._ledger = ledger
        self._processor = processor
        self._decode = decode
        self._producer = producer
        self._letters = letters
        self._owned = owned
        self._generation = generation  # of the consumer group, as the worker last joined it
        self._on_applied = on_applied
        # A ledger is rebuilt from the local store only between partitions: a partition's state
        # reaches the store after Kafka acknowledged it, and Faust recovers while an agent may be
        # waiting for that (it does not wait for streams to drain: stream_wait_empty=False).
        self._lock = asyncio.Lock()
        # Clear from the revocation of the partitions until the tables are recovered for the new
        # assignment: no partition is written meanwhile.
        self._assigned = asyncio.Event()
        self._assigned.set()
        self._revoked_in: int | None = None  # the generation whose partitions were revoked

    async def apply(self, batch: Sequence[EventT[bytes]]) -> None:
        """Apply a batch's records partition by partition, each if the worker owns it when its
        turn comes; during a rebalance, once the tables are recovered for the new assignment.

        A batch can hold records of a partition revoked since they were fetched (Faust does not
        wait for streams to drain at a rebalance), and a rebalance can begin while a batch is
        applied. Applied by the old owner, such records would start from the empty state the
        ledger has after dropping the partition, or land in the changelog after the new owner's
        writes; they are left to the new owner instead, which reads them again from the
        committed offset (Faust discards the revoked partition's commit).
        """
        for partition, events in by_partition(batch):
            await self._turn()
            try:
                if partition not in self._owned():
                    continue  # revoked since its records were fetched: left to the new owner
                records = [(e.message.offset, e.value) for e in events]
                outcome = self._outcome(partition, records)
                await self._persist(partition, outcome)
                self._on_applied(partition)
            finally:
                self._lock.release()

    async def _turn(self) -> None:
        """Take the lock, outside of a rebalance."""
        while True:
            await self._assigned.wait()
            await self._lock.acquire()
            if self._assigned.is_set():
                return
            self._lock.release()  # a rebalance began meanwhile

    async def revoking(self) -> None:
        """The worker's partitions are being revoked: write nothing until `recovered`, and
        return once the partition being written, if any, is in Kafka and in the local store."""
        self._assigned.clear()
        self._revoked_in = self._generation()
        async with self._lock:
            pass

    async def recovered(self) -> None:
        """Rebuild the ledger from the recovered local store, for the partitions owned now, and
        let the batches go on (unless this is the end of a recovery that began before the last
        revocation: then once the tables are recovered for the assignment that followed it)."""
        async with self._lock:
            if self._revoked_in is None or self._generation() > self._revoked_in:
                self._assigned.set()
            owned = self._owned()
            for partition in list(self._ledger.partitions):
                self._ledger.drop(partition)
            restored, indexed = 0, 0
            for partition in sorted(owned):
                keys, index_keys = self._restore(partition)
                restored += keys
                indexed += index_keys
                self._on_applied(partition)
            logger.info(
                "recovered %d %s keys (%d index keys added) for partitions %s",
                restored,
                self.kind,
                indexed,
                sorted(owned),
            )

    # -- processing, with a retry and the poisoned events set aside -----------------------------

    def _outcome(self, partition: int, records: Records) -> BatchOutcome:
        return process_setting_poison_aside(
            self._processor(partition),
            records,
            lambda: self._reload(partition),
            self._events_in,
            f"{self.topic}[{partition}] offsets {records[0][0]}-{records[-1][0]}",
        )

    def _events_in(self, value: bytes) -> int | None:
        try:
            return len(self._decode(value).events)
        except Exception:
            return None

    def _reload(self, partition: int) -> None:
        self._ledger.drop(partition)
        self._restore(partition)

    def _restore(self, partition: int) -> tuple[int, int]:
        restored = indexed = 0
        for key, value in self.store.items(partition):
            local = self._ledger.restore(key, value)
            restored += 1
            if local:
                self.store.put(partition, local)
                indexed += len(local)
        return restored, indexed

    # -- persisting -------------------------------------------------------------------------------

    async def _persist(self, partition: int, outcome: BatchOutcome) -> None:
        """Send the writes to the changelog and the rejections to the DLQ, then, once Kafka
        acknowledged them, store the writes locally with the changelog offset."""
        changelog = self._table.changelog_topic.get_topic_name()
        sent = await send_batches(await self._producer(), changelog, partition, outcome.writes)
        letters = await self._letters.send(self.topic, partition, outcome.rejections)
        delivered = await asyncio.gather(*(future for future, _ in sent))
        await asyncio.gather(*letters)
        if delivered:
            last = delivered[-1].offset + sent[-1][1] - 1
            self.store.write(partition, {**outcome.writes, **outcome.local}, last)


async def send_batches(
    producer: BatchProducer, topic: str, partition: int, writes: Mapping[bytes, bytes | None]
) -> list[tuple[Awaitable[Any], int]]:
    """Hand `writes` to the producer as record batches for `topic[partition]`, in order; returns
    each batch's future (its base offset once acknowledged) and record count."""
    sent: list[tuple[Awaitable[Any], int]] = []
    batch = producer.create_batch()

    async def submit() -> None:
        batch.close()  # so that no other send joins it: its offsets are these records'
        future = await producer.send_batch(batch, topic, partition=partition)
        sent.append((future, batch.record_count()))

    for key, value in writes.items():
        if batch.append(timestamp=None, key=key, value=value) is None:
            await submit()
            batch = producer.create_batch()
            batch.append(timestamp=None, key=key, value=value)
    if batch.record_count():
        await submit()
    return sent


async def run_whole_batch(work: Coroutine[Any, Any, None]) -> None:
    """Run one batch to its end, whatever happens to the agent meanwhile.

    Faust's `take_events` acknowledges a batch's events when the agent leaves the loop body, even
    when it leaves by cancellation (a worker stopping) or by an exception, and acknowledged
    offsets get committed. So a batch is never abandoned half-way: on cancellation it is finished
    first, and if it fails the process exits at once, before any commit, and a restarted worker
    replays it (counting is idempotent).
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await _finished(task)
        raise
    except Exception as exc:
        _exit_failed(exc)


async def _finished(task: asyncio.Future[None]) -> None:
    try:
        await task
    except Exception as exc:
        _exit_failed(exc)


def _exit_failed(exc: Exception) -> None:
    what = "the fault is not in the data" if isinstance(exc, PoisonNotFound) else "it failed"
    logger.error(
        "a batch could not be applied (%s); exiting without committing its offsets",
        what,
        exc_info=exc,
    )
    os._exit(EXIT_BATCH_FAILED)


def by_partition(batch: Sequence[EventT[bytes]]) -> list[tuple[int, list[EventT[bytes]]]]:
    """A batch's events grouped by partition, in partition order (each group in offset order)."""
    groups: dict[int, list[EventT[bytes]]] = defaultdict(list)
    for event in batch:
        groups[event.message.partition].append(event)
    return sorted(groups.items())
