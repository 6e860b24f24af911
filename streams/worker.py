"""The Faust worker: agents over `payments.events` and `payments.accounts`, changelogged state,
partition summaries shared through Kafka, and `/metrics` on the worker's web server.

Faust runs the consumer group, the changelog tables, their recovery after a crash or a rebalance,
and the web server; its consumer's seek at the end of a rebalance is made safe in
`streams/consumer.py`. The numbers themselves come from the pure ledgers in this package: each
agent takes a batch of records, hands each partition's records to its ledger, and writes the
table keys the ledger returns, each once per batch. Writes go to the changelog partition of the
records they came from (Faust would otherwise take the partition of whichever event is
"current"), so a partition's state always moves with the partition.

State is on disk: each table uses Faust's RocksDB store (`streams/local_store.py`), written
only after Kafka holds the changelog records; the account ledger reads persons' accounts from it,
so memory does not grow with the number of account holders.

Processing guarantee: at-least-once delivery (offsets are committed after the batch's changelog
records are acknowledged), made exact by the ledgers' idempotent counting; the kill -9 tests
prove it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TP, EventT
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cashless.deadletter import dead_letter
from cashless.eventtime import window_end
from cashless.metrics import MetricValues
from cashless.privacy import Pseudonymiser, Scrubber
from cashless.schema import EventDecoder
from cashless.settings import KafkaSettings, WorkerSettings
from cashless.storage import check_data_dir
from cashless.taxonomy import Taxonomy
from cashless.topics import Topics, ensure_topics
from streams.consumer import Transport
from streams.coverage import AccountLedger
from streams.credentials import faust_credentials
from streams.heap import RELEASE_SECONDS, release_free_memory
from streams.ledger import BatchOutcome, PaymentLedger
from streams.local_store import STORE_OPTIONS, LocalStore, SharedMemoryOptions
from streams.metrics import ExportSettings, MetricsCollector, current_values
from streams.summary import GlobalView, PartitionSummary, summarise_accounts, summarise_payments

__all__ = ["Worker", "stalled_partitions", "unapplied_partitions"]

logger = logging.getLogger(__name__)

STALL_CHECK_SECONDS = 10.0
# Records read ahead per input topic (Faust's default is 4096): a record holds up to 500 events,
# about 100 kB, so a worker catching up held hundreds of MB of records waiting for their batch.
STREAM_BUFFER_RECORDS = 512


class Worker:
    """One stream worker process: start more of them to scale out."""

    def __init__(
        self,
        settings: WorkerSettings,
        kafka: KafkaSettings,
        taxonomy: Taxonomy,
        pseudonym_key: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.kafka = kafka
        self.topics = Topics(kafka.topic_prefix)
        decoder = EventDecoder(taxonomy, clock_skew_seconds=settings.clock_skew_seconds)
        self.view = GlobalView()
        self.registry = CollectorRegistry()
        self._export = ExportSettings(
            taxonomy,
            min_cell=settings.min_cell,
            noncash_goal=settings.noncash_goal,
            accounts_goal=settings.accounts_goal,
            max_sources=settings.max_sources,
        )
        MetricsCollector(self.values, self.registry)
        key = pseudonym_key or secrets.token_bytes(32)
        self._hash_key = key
        self._scrubber = Scrubber(Pseudonymiser(key))
        self._dirty: set[tuple[str, int]] = set()
        self._published_end: int | None = None
        self._positions: dict[TP, int | None] = {}
        self._applied: dict[TP, int] = {}
        # A ledger is rebuilt from the local store only between batches: a batch's state reaches
        # the store after Kafka acknowledged it, and Faust recovers while an agent may be
        # waiting for that (it does not wait for streams to drain: stream_wait_empty=False).
        self._batch_locks = {"payments": asyncio.Lock(), "accounts": asyncio.Lock()}
        self.app = self._build_app()
        self.payments = PaymentLedger(decoder, self._stores[self.topics.events])
        self.accounts = AccountLedger(decoder, self._stores[self.topics.accounts].get)

    # -- the numbers ----------------------------------------------------------------------------

    def owned(self, topic: str) -> set[int]:
        """The partitions of `topic` this worker owns now."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    def _held(self, topic: str, ledger: PaymentLedger | AccountLedger) -> list[int]:
        """The partitions of `topic` this worker owns and `ledger` holds state for, in order."""
        held = set(ledger.partitions)
        return sorted(p for p in self.owned(topic) if p in held)

    def _owned_groups(
        self, topic: str, batch: Sequence[EventT[bytes]]
    ) -> list[tuple[int, list[tuple[int, bytes]]]]:
        """The batch's `(offset, value)` records per partition, for the partitions owned now.

        A batch can hold records of a partition revoked since they were fetched (Faust does not
        wait for streams to drain at a rebalance). Applied here they would start from the empty
        state the ledger has after dropping the partition, and their writes would reach the
        changelog the new owner recovers from; they are left to the new owner instead, which
        reads them again from the committed offset (Faust discards the revoked partition's
        commit).
        """
        owned = self.owned(topic)
        return [
            (partition, [(e.message.offset, e.value) for e in group])
            for partition, group in _by_partition(batch)
            if partition in owned
        ]

    def values(self) -> MetricValues:
        """Every series this worker exports now."""
        owned = self.owned(self.topics.events)
        return current_values(
            self._export,
            self.payments,
            self._held(self.topics.events, self.payments),
            self.view,
            exports_city=0 in owned,
        )

    # -- Faust wiring ---------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        s = self.settings
        app = faust.App(
            s.app_id,
            broker=[f"kafka://{server}" for server in self.kafka.bootstrap_servers.split(",")],
            broker_credentials=faust_credentials(self.kafka),
            store="rocksdb://",
            datadir=str(self.datadir),
            web_host=s.web_host,
            web_bind=s.web_host,
            web_port=s.web_port,
            web_in_thread=False,
            topic_partitions=self.topics.partitions()[self.topics.events],
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_commit_interval=1.0,
            broker_max_poll_records=2000,
            stream_wait_empty=False,
            stream_buffer_maxsize=STREAM_BUFFER_RECORDS,
            table_standby_replicas=0,
            producer_acks=-1,
            producer_linger_ms=20,
            key_serializer="raw",
            value_serializer="raw",
        )
        app.transport = Transport(app.conf.broker_consumer, app)  # before anything creates one
        events = app.topic(self.topics.events, value_type=bytes, key_type=bytes)
        accounts = app.topic(self.topics.accounts, value_type=bytes, key_type=bytes)
        self._dlq = app.topic(self.topics.dlq, value_type=bytes, key_type=bytes)
        self._summaries = app.topic(self.topics.summaries, value_type=bytes, key_type=bytes)
        partitions = self.topics.partitions()
        payments_table = app.Table(
            "payments-state",
            partitions=partitions[self.topics.events],
            key_type=bytes,  # bytes keys and values: Faust's "raw" codec, here and in recovery
            value_type=bytes,
            options=dict(STORE_OPTIONS),  # Faust's store pops keys from it
        )
        accounts_table = app.Table(
            "accounts-state",
            partitions=partitions[self.topics.accounts],
            key_type=bytes,  # bytes keys and values: Faust's "raw" codec, here and in recovery
            value_type=bytes,
            options=dict(STORE_OPTIONS),
        )
        self._stores = {
            self.topics.events: LocalStore(payments_table),
            self.topics.accounts: LocalStore(accounts_table),
        }

        async def apply_payments(batch: Sequence[EventT[bytes]]) -> None:
            async with self._batch_locks["payments"]:
                for partition, records in self._owned_groups(self.topics.events, batch):
                    known = max(
                        filter(None, (self.view.stream_time, self.payments.stream_time)),
                        default=None,
                    )
                    outcome = self.payments.process(partition, records, known)
                    await self._persist(payments_table, partition, outcome, self.topics.events)
                    self._dirty.add(("payments", partition))

        async def apply_accounts(batch: Sequence[EventT[bytes]]) -> None:
            async with self._batch_locks["accounts"]:
                for partition, records in self._owned_groups(self.topics.accounts, batch):
                    outcome = self.accounts.process(partition, records)
                    await self._persist(accounts_table, partition, outcome, self.topics.accounts)
                    self._dirty.add(("accounts", partition))

        async def payments_agent(stream: Any) -> None:
            async for batch in stream.take_events(s.batch_max, s.batch_within_seconds):
                await _whole_batch(apply_payments(batch))

        async def accounts_agent(stream: Any) -> None:
            async for batch in stream.take_events(s.batch_max, s.batch_within_seconds):
                await _whole_batch(apply_accounts(batch))

        app.agent(events, name="payments")(payments_agent)
        app.agent(accounts, name="accounts")(accounts_agent)

        @payments_table.on_recover
        async def _payments_recovered() -> None:
            async with self._batch_locks["payments"]:
                self._reload(self.payments, self.topics.events, "payments")

        @accounts_table.on_recover
        async def _accounts_recovered() -> None:
            async with self._batch_locks["accounts"]:
                self._reload(self.accounts, self.topics.accounts, "accounts")

        @app.timer(interval=s.summary_interval_seconds)  # type: ignore[untyped-decorator]
        async def _publish() -> None:
            await self._publish_summaries()

        @app.timer(interval=STALL_CHECK_SECONDS)  # type: ignore[untyped-decorator]
        async def _check_progress() -> None:
            await self._report_stalled_partitions()

        @app.timer(interval=RELEASE_SECONDS)  # type: ignore[untyped-decorator]
        async def _release_memory() -> None:
            release_free_memory()

        @app.task  # type: ignore[untyped-decorator]
        async def _read_summaries() -> None:
            await self._follow_summaries()

        @app.page("/metrics")
        async def _metrics(web: Any, request: Any) -> Any:
            body = generate_latest(self.registry)
            return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

        @app.page("/healthz")
        async def _healthz(web: Any, request: Any) -> Any:
            # where each owned input partition stands: the offset of its last applied record
            ledgers: tuple[tuple[str, str, PaymentLedger | AccountLedger], ...] = (
                ("payments", self.topics.events, self.payments),
                ("accounts", self.topics.accounts, self.accounts),
            )
            last_offsets = {
                kind: {str(p): ledger.meta(p).last_offset for p in self._held(topic, ledger)}
                for kind, topic, ledger in ledgers
            }
            # covered persons per accounts partition: in this worker's ledger, and as the merged
            # summaries (which the exported coverage comes from) have them
            holders = {
                "ledger": {
                    str(p): sum(self.accounts.holders(p).values())
                    for p in self._held(self.topics.accounts, self.accounts)
                },
                "summaries": {
                    str(s.partition): sum(s.holders.values())
                    for s in sorted(self.view.summaries("accounts"), key=lambda s: s.partition)
                },
            }
            owned = sorted(self.owned(self.topics.events))
            return web.json(
                {"status": "ok", "owned": owned, "last_offsets": last_offsets, "holders": holders}
            )

        return app

    async def _persist(self, table: Any, partition: int, outcome: BatchOutcome, topic: str) -> None:
        """Send the batch's writes to the changelog, then store them locally, before the ack.

        The writes go, in the ledger's order, to the changelog partition of the records they
        came from, straight to the producer: Faust's send buffer can give up flushing after
        0.1 s before a commit and let offsets be committed ahead of the state they produced,
        and `Topic.send` costs ~100 µs a record in futures and callbacks. Only once Kafka
        acknowledged them do they reach the local store, with the changelog offset.
        """
        changelog = table.changelog_topic.get_topic_name()
        producer = await self.app.maybe_start_producer()
        sends: list[Awaitable[Any]] = []
        letters: list[Awaitable[Any]] = []
        for key, value in outcome.writes.items():
            sends.append(
                await producer.send(
                    topic=changelog,
                    key=key,
                    value=value,
                    partition=partition,
                    timestamp=None,
                    headers=None,
                )
            )
        for offset, rejection, raw in outcome.rejections:
            letter = dead_letter(
                rejection,
                origin="worker",
                raw=raw,
                hash_key=self._hash_key,
                scrubbed=self._scrubbed_item(raw, rejection.index),
                location={"topic": topic, "partition": partition, "offset": offset},
            )
            letters.append(
                await self._dlq.send(
                    key=rejection.reason.encode(), value=letter.encode(), force=True
                )
            )
        delivered = await asyncio.gather(*sends)
        await asyncio.gather(*letters)
        if delivered:
            last = max(metadata.offset for metadata in delivered)
            self._stores[topic].write(partition, {**outcome.writes, **outcome.local}, last)

    def _scrubbed_item(self, raw: bytes, index: int | None) -> dict[str, Any] | None:
        try:
            parsed = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        item = parsed[index] if isinstance(parsed, list) and index is not None else parsed
        return self._scrubber.scrub(item) if isinstance(item, dict) else None

    def _reload(self, ledger: Any, topic: str, kind: str) -> None:
        """Rebuild a ledger from the recovered local store, for the partitions owned now."""
        owned = self.owned(topic)
        for partition in list(ledger.partitions):
            ledger.drop(partition)
        restored = indexed = 0
        store = self._stores[topic]
        for partition in sorted(owned):
            for key, value in store.items(partition):
                local = ledger.restore(key, value)
                restored += 1
                if local:
                    store.put(partition, local)
                    indexed += len(local)
        for partition in owned:
            self._dirty.add((kind, partition))
        logger.info(
            "recovered %d %s keys (%d index keys added) for partitions %s",
            restored,
            kind,
            indexed,
            sorted(owned),
        )

    async def _report_stalled_partitions(self) -> None:
        """Log the input partitions that have records to read but did not move since last time,
        and those read to their end whose last records were never applied.

        A worker that owns a partition and makes no progress on it is otherwise silent; the line
        names what decides whether the partition is fetched, so that the cause shows.
        """
        consumer: Any = self.app.consumer
        assigned = sorted(tp for tp in consumer.assignment() if tp.topic in self.topics.inputs)
        try:
            ends = await consumer.highwaters(*assigned) if assigned else {}
            positions = {tp: await consumer.position(tp) for tp in assigned}
        except KafkaError as exc:  # e.g. a rebalance took a partition meanwhile: next time
            logger.debug("progress check skipped: %s", exc)
            return
        stalled = stalled_partitions(self._positions, positions, ends)
        self._positions = positions
        self._report_unapplied(consumer, positions, ends)
        if stalled:
            tables: Any = self.app.tables
            logger.warning(
                "no progress for %.0f s on %s; in recovery: %s, flow: %s, flow control: %s",
                STALL_CHECK_SECONDS,
                ", ".join(
                    f"{tp.topic}[{tp.partition}] at {positions[tp]} of {ends[tp]}"
                    f" (paused: {tp in consumer._paused_partitions},"
                    f" active: {tp in (consumer._active_partitions or ())})"
                    for tp in stalled
                ),
                tables.recovery.in_recovery,
                consumer.flow_active,
                self.app.flow_control.is_active(),
            )

    def _report_unapplied(
        self, consumer: Any, positions: Mapping[TP, int | None], ends: Mapping[TP, int]
    ) -> None:
        """Log the input partitions read to their end whose last records were never applied."""
        ledgers: dict[str, PaymentLedger | AccountLedger] = {
            self.topics.events: self.payments,
            self.topics.accounts: self.accounts,
        }
        applied = {
            tp: ledgers[tp.topic].meta(tp.partition).last_offset
            for tp in positions
            if tp.partition in set(ledgers[tp.topic].partitions)
        }
        unapplied = unapplied_partitions(self._applied, applied, positions, ends)
        self._applied = applied
        if unapplied:
            logger.warning(
                "read to the end but not applied for %.0f s: %s",
                STALL_CHECK_SECONDS,
                ", ".join(
                    f"{tp.topic}[{tp.partition}] applied to {applied[tp]} of {ends[tp]}"
                    f" (read offset: {consumer._read_offset.get(tp)},"
                    f" committed: {consumer._committed_offset.get(tp)})"
                    for tp in unapplied
                ),
            )

    async def _publish_summaries(self) -> None:
        """Publish the summaries that changed, and all payments summaries when `e` moved."""
        latest = max(filter(None, (self.view.stream_time, self.payments.stream_time)), default=None)
        end = None if latest is None else window_end(latest)
        moved = end != self._published_end
        dirty, self._dirty = self._dirty, set()
        if moved:
            dirty |= {("payments", p) for p in self.owned(self.topics.events)}
            self._published_end = end
        for kind, partition in sorted(dirty):
            await self._send_summary(kind, partition, end)

    async def _send_summary(self, kind: str, partition: int, end: int | None) -> None:
        if kind == "payments":
            if partition not in self.owned(self.topics.events):
                return
            summary = summarise_payments(self.payments, partition, end)
        else:
            if partition not in self.owned(self.topics.accounts):
                return
            summary = summarise_accounts(self.accounts, partition)
        self.view.update(summary)
        await self._summaries.send(
            key=summary.key.encode(), value=msgspec.json.encode(summary), force=True
        )

    async def _follow_summaries(self) -> None:
        """Read every partition's summary, from every worker, for as long as the worker runs."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.kafka.aiokafka_config(),
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.topics.summaries, 0)])
            decode = msgspec.json.Decoder(PartitionSummary).decode
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for message in messages:
                        if message.value is not None:
                            self.view.update(decode(message.value))
        finally:
            await consumer.stop()

    # -- running --------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """This worker's local state: one directory per app and web port, so that workers started
        side by side on one machine never share a RocksDB database."""
        return Path(self.settings.state_dir) / f"{self.settings.app_id}-{self.settings.web_port}"

    def run(self) -> None:
        """Create the topics, then run until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
        # Before anything is written: a full or read-only disk is one clear error, not RocksDB's.
        check_data_dir(self.datadir, "worker state", min_free_bytes=64 * 1024**2)
        shared = SharedMemoryOptions()  # one memory budget for both tables' databases
        for store in self._stores.values():
            store.share(shared)
        # Faust's changelogs must have the partition counts of their source topics; creating
        # them here avoids its startup race with a stale metadata cache.
        partitions = self.topics.partitions()
        changelogs = {
            f"{self.settings.app_id}-payments-state-changelog": partitions[self.topics.events],
            f"{self.settings.app_id}-accounts-state-changelog": partitions[self.topics.accounts],
        }
        ensure_topics(
            self.kafka.bootstrap_servers,
            self.topics,
            compacted=changelogs,
            **self.kafka.kafka_python_config(),
        )
        worker = faust.Worker(self.app, loglevel=logging.getLogger().level or logging.INFO)
        worker.execute_from_commandline()


async def _whole_batch(work: Coroutine[Any, Any, None]) -> None:
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
    except Exception:
        logger.exception("a batch could not be applied; exiting without committing its offsets")
        os._exit(70)


async def _finished(task: asyncio.Future[None]) -> None:
    try:
        await task
    except Exception:
        logger.exception("a batch could not be applied; exiting without committing its offsets")
        os._exit(70)


def stalled_partitions(
    before: Mapping[TP, int | None], now: Mapping[TP, int | None], ends: Mapping[TP, int]
) -> list[TP]:
    """The partitions with records left to read whose position has not moved since `before`."""
    return [
        tp
        for tp, position in now.items()
        if position is not None and position < ends.get(tp, 0) and before.get(tp) == position
    ]


def unapplied_partitions(
    before: Mapping[TP, int],
    applied: Mapping[TP, int],
    positions: Mapping[TP, int | None],
    ends: Mapping[TP, int],
) -> list[TP]:
    """The partitions read to their end whose last applied offset is short of it and has not
    moved since `before`."""
    return [
        tp
        for tp, last in applied.items()
        if positions.get(tp) == ends.get(tp) and last < ends[tp] - 1 and before.get(tp) == last
    ]


def _by_partition(batch: Sequence[EventT[bytes]]) -> list[tuple[int, list[EventT[bytes]]]]:
    groups: dict[int, list[EventT[bytes]]] = defaultdict(list)
    for event in batch:
        groups[event.message.partition].append(event)
    return sorted(groups.items())
