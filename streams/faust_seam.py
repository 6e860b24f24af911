"""Every use of Faust's and aiokafka's private API, in one place, with the versions it was
tested on (`TESTED`); `seam_problems()` says what no longer holds, and a unit test fails on it.

The rest of the worker uses only their public API. What is here, and why:

- The consumer's seek of the input partitions at the end of a rebalance, made safe: no record is
  dropped between the seek and the moment the streams start again. At the end of a recovery
  Faust (`Recovery._resume_streams`) resumes the input partitions while the flow is still on
  from reading the changelogs, seeks them to their committed offsets, and only then resumes flow
  control, which empties the streams' queues. The records the fetcher delivered in between are
  dropped although their read offsets moved on: for a partition with a committed offset they
  are lost when they came after the seek; for a partition with none, aiokafka does not seek at
  all (`seek_to_committed` skips it) and they are always lost. Seen after `kill -9` of a worker
  that had committed nothing: the restarted worker read some partitions to their end and
  applied none of it (the same class of bug as faust-streaming issue 216, fixed there for apps
  without tables only). So here the seek stops the flow first (Faust resumes it right after the
  seek, having emptied the queues), and seeks each input partition with no committed offset to
  its start: the streams then start from the committed offsets, or from the start, in order.
  Records the worker had already applied come again, which the ledgers count once.
- A table's RocksDB database per partition (`partition_db`), which Faust opens on first use:
  the worker writes a batch and its changelog offset in one atomic write (`streams.local_store`).
- The persisted changelog offsets of a store on disk (`persisted_offsets`), read before Faust
  opens it, so that a store built from another Kafka is found and rebuilt
  (`streams.store_guard`) instead of ending the worker in Faust's `ConsistencyError`.
- The consumer's flow state for the stall report (`flow_state`).
- The aiokafka producer behind Faust's (`kafka_producer`), whose public `send_batch` takes a
  whole record batch for one partition: the changelog writes of a batch go in a few record
  batches instead of one `send` each (~30 µs a record in futures, metadata lookups and
  callbacks).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Set
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import rocksdict
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.stores import rocksdb as faust_rocksdb
from faust.tables import recovery as faust_recovery
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = [
    "TESTED",
    "Consumer",
    "Transport",
    "consumer_position",
    "databases_open",
    "flow_state",
    "kafka_producer",
    "offset_key",
    "partition_db",
    "persisted_offsets",
    "seam_problems",
    "use_rocksdb_options",
]

# The versions every assumption below was checked against; pyproject.toml pins these minors.
TESTED = {"faust-streaming": "0.15", "aiokafka": "0.14"}

SEEK_TIMEOUT_SHARE = 0.8  # of Faust's broker request timeout, which bounds the seek in recovery


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with `perform_seek` safe at the end of a rebalance."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seek_lock = asyncio.Lock()

    async def perform_seek(self) -> None:
        """Seek the input partitions to their committed offsets, or to their start."""
        at_recovery_end = self.flow_active
        if at_recovery_end:
            # At the end of a recovery: no record may reach a stream until Faust, right after
            # this seek, empties the queues and resumes the flow. The record the fetcher is
            # handing over is cancelled; its read offset is set before the committed offsets
            # (which need a round trip to the broker) overwrite it below.
            self.stop_flow()
        # Faust also seeks from the fetcher when records arrive while the flow is stopped: that
        # seek waits for this one, then seeks again (the fetcher delivers nothing meanwhile).
        async with self._seek_lock:
            if not at_recovery_end:
                await super().perform_seek()
                return
            # Faust gives up its recovery for good when this seek outlasts its request timeout,
            # and the flow stopped above would then never resume: crash instead, loudly.
            timeout = SEEK_TIMEOUT_SHARE * self.app.conf.broker_request_timeout
            try:
                await asyncio.wait_for(super().perform_seek(), timeout=timeout)
            except TimeoutError as exc:
                await self.app.crash(exc)
                raise

    async def seek_to_committed(self) -> Any:
        """Seek to the committed offsets, and an input partition without one to its start."""
        thread: Any = self._thread
        changelogs = self.app.tables.changelog_topics  # read by recovery, never committed
        return await thread.call_thread(
            _seek_to_committed_or_start, thread._ensure_consumer(), changelogs
        )


async def _seek_to_committed_or_start(
    consumer: AIOKafkaConsumer, changelogs: Set[str]
) -> Mapping[TopicPartition, int | None]:
    """In the consumer's thread: seek every assigned partition to its committed offset, and the
    input partitions with none (or 0) to offset 0 (`auto_offset_reset` applies when it is gone).
    """
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    assigned = consumer.assignment()
    for tp, offset in committed.items():
        if not offset and tp.topic not in changelogs and tp in assigned:
            consumer.seek(tp, 0)
    return committed


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above."""

    Consumer: ClassVar[type[Consumer]] = Consumer


# -- tables: Faust's RocksDB store ----------------------------------------------------------------


def partition_db(table: Any, partition: int) -> Any:
    """The open RocksDB database of one partition of `table` (Faust opens it on first use and
    closes it when the partition is revoked: never keep the returned object)."""
    return table.data._db_for_partition(partition)


def databases_open(table: Any) -> bool:
    """Whether Faust has opened any of `table`'s databases yet."""
    return bool(table.data._dbs)


def use_rocksdb_options(table: Any, options: Any) -> None:
    """Open `table`'s databases with `options` (a `RocksDBOptions`), before the first opens."""
    table.data.rocksdb_options = options


def offset_key(table: Any) -> bytes:
    """The key under which Faust keeps a database's last changelog offset."""
    key: bytes = table.data.offset_key
    return key


def persisted_offsets(table: Any, partitions: int) -> dict[int, int]:
    """The changelog offset each partition's database on disk holds, read without opening it
    for Faust (read-only); partitions with no database or no offset are left out."""
    store = table.data
    found: dict[int, int] = {}
    for partition in range(partitions):
        path = Path(store.partition_path(partition))
        if not path.exists():
            continue
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            value = db.get(store.offset_key)
        finally:
            db.close()
        if value is not None:
            found[partition] = int(value)
    return found


def tables_dir(app: Any) -> Path:
    """Where Faust keeps the app's table databases."""
    return Path(app.conf.tabledir)


# -- the producer ----------------------------------------------------------------------------------


def kafka_producer(producer: Any) -> AIOKafkaProducer:
    """The started aiokafka producer behind Faust's `producer` (raises if it is not started)."""
    found: AIOKafkaProducer = producer._ensure_producer()
    return found


# -- the consumer's state, for the stall report ----------------------------------------------------


def flow_state(consumer: Any, tp: TP) -> dict[str, Any]:
    """What decides whether `tp` is fetched and where Faust stands on it."""
    return {
        "paused": tp in consumer._paused_partitions,
        "active": tp in (consumer._active_partitions or ()),
        "read offset": consumer._read_offset.get(tp),
        "committed": consumer._committed_offset.get(tp),
    }


def consumer_position(consumer: Any, tp: TP) -> int | None:
    """The next offset the consumer will read of `tp`: after its last read, else its committed
    offset; None before it knows either."""
    read = consumer._read_offset.get(tp)
    if read is not None:
        return int(read) + 1
    committed = consumer._committed_offset.get(tp)
    return None if committed is None else int(committed)


# -- the assumptions, checked ----------------------------------------------------------------------


def _has(owner: Any, name: str) -> Callable[[], bool]:
    return lambda: hasattr(owner, name)


def _calls(owner: Any, method: str, *names: str) -> Callable[[], bool]:
    """Whether `owner.method`'s source names all of `names` (looked up when checked)."""

    def check() -> bool:
        source = inspect.getsource(getattr(owner, method))
        return all(name in source for name in names)

    return check


_ASSUMPTIONS: tuple[tuple[str, Callable[[], bool]], ...] = (
    ("faust Store._db_for_partition", _has(faust_rocksdb.Store, "_db_for_partition")),
    ("faust Store.partition_path", _has(faust_rocksdb.Store, "partition_path")),
    ("faust Store.offset_key", _has(faust_rocksdb.Store, "offset_key")),
    ("faust Store keeps its databases in _dbs", _calls(faust_rocksdb.Store, "__init__", "_dbs")),
    (
        "faust Store reads rocksdb_options",
        _calls(faust_rocksdb.Store, "__init__", "rocksdb_options"),
    ),
    ("faust Consumer.perform_seek", _has(faust_aiokafka.Consumer, "perform_seek")),
    ("faust Consumer.seek_to_committed", _has(faust_aiokafka.Consumer, "seek_to_committed")),
    (
        "faust's consumer thread has _ensure_consumer and call_thread",
        lambda: all(
            hasattr(faust_aiokafka.AIOKafkaConsumerThread, name)
            for name in ("_ensure_consumer", "call_thread")
        ),
    ),
    (
        "faust's consumer keeps _paused_partitions, _active_partitions, _read_offset and "
        "_committed_offset",
        lambda: (
            _calls(faust_consumer.Consumer, "__init__", "_read_offset", "_committed_offset")()
            and _calls(
                faust_consumer.Consumer, "_reset_state", "_paused_partitions", "_active_partitions"
            )()
        ),
    ),
    (
        "faust's recovery seeks the input partitions, then resumes flow control",
        _calls(faust_recovery.Recovery, "_resume_streams", "perform_seek", "resume_flow"),
    ),
    ("faust Producer._ensure_producer", _has(faust_aiokafka.Producer, "_ensure_producer")),
    (
        "aiokafka's consumer seek_to_committed and seek",
        lambda: all(hasattr(AIOKafkaConsumer, n) for n in ("seek_to_committed", "seek")),
    ),
)


def seam_problems() -> list[str]:
    """What no longer holds of the assumptions above, one line each (empty when all hold)."""
    problems: list[str] = []
    for package, minor in TESTED.items():
        installed = metadata.version(package)
        if not (installed == minor or installed.startswith(minor + ".")):
            problems.append(f"{package} {installed} is installed; the seam was tested on {minor}")
    for what, holds in _ASSUMPTIONS:
        try:
            ok = holds()
        except (AttributeError, OSError, TypeError) as exc:
            problems.append(f"{what}: cannot be checked ({exc})")
            continue
        if not ok:
            problems.append(f"{what}: no longer holds")
    return problems
