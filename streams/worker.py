"""The stream worker: one process of the Faust app, wired to the ledgers, the changelogged
tables, the summaries shared through Kafka and `/metrics`.

Faust runs the consumer group, the changelog tables, their recovery after a crash or a rebalance,
and the web server (`streams.app`; its private API only through `streams.faust_seam`). The
numbers come from the pure ledgers (`streams.ledger`, `streams.coverage`): each agent takes a
batch of records and hands it to its topic's `BatchApplier` (`streams.batches`), which applies
each partition's records and persists what the ledger returns.

State is on disk: each table uses Faust's RocksDB store (`streams.local_store`), written only
after Kafka holds the changelog records, and checked against the cluster before the worker starts
(`streams.store_guard`); the account ledger reads persons' accounts from it, so memory does not
grow with the number of account holders.

Processing guarantee: at-least-once delivery (offsets are committed after the batch's changelog
records are acknowledged), made exact by the ledgers' idempotent counting; the kill -9 tests
prove it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cashless.metrics import MetricValues
from cashless.privacy import Pseudonymiser, Scrubber
from cashless.schema import EventDecoder
from cashless.settings import KafkaSettings, WorkerSettings
from cashless.storage import check_data_dir
from cashless.taxonomy import Taxonomy
from cashless.topics import Topics, ensure_topics
from streams.app import build_app, changelog_topics
from streams.batches import BatchApplier, Process, run_whole_batch
from streams.coverage import AccountLedger
from streams.dead_letters import DeadLetters
from streams.exchange import SummaryExchange
from streams.faust_seam import kafka_producer, persisted_offsets, seam_problems, tables_dir
from streams.heap import RELEASE_SECONDS, release_free_memory, tune_garbage_collector
from streams.lag import ConsumerLag
from streams.ledger import PaymentLedger
from streams.local_store import LocalStore, SharedMemoryOptions
from streams.metrics import ExportSettings, MetricsCollector, current_values
from streams.progress import STALL_CHECK_SECONDS, ProgressWatch
from streams.store_guard import guard_store
from streams.summary import GlobalView

__all__ = ["Worker"]

logger = logging.getLogger(__name__)


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
        self.stream = build_app(settings, kafka, self.topics, self.datadir)
        self.app = self.stream.app
        self._letters = DeadLetters(self.stream.dlq, Scrubber(Pseudonymiser(key)), hash_key=key)
        decoder = EventDecoder(taxonomy, clock_skew_seconds=settings.clock_skew_seconds)
        payments_store = LocalStore(self.stream.payments_table)
        accounts_store = LocalStore(self.stream.accounts_table)
        self.payments = PaymentLedger(decoder, payments_store)
        self.accounts = AccountLedger(decoder, accounts_store.get)
        self._topic_of = {"payments": self.topics.events, "accounts": self.topics.accounts}
        self.exchange = SummaryExchange(
            view=self.view,
            payments=self.payments,
            accounts=self.accounts,
            topic=self.stream.summaries,
            topic_name=self.topics.summaries,
            kafka=kafka,
            owned=lambda kind: self.owned(self._topic_of[kind]),
        )
        self.appliers = {
            "payments": self._applier(
                "payments", payments_store, self.payments, self._payments_process, decoder
            ),
            "accounts": self._applier(
                "accounts", accounts_store, self.accounts, self._accounts_process, decoder
            ),
        }
        self.progress = ProgressWatch(self.app, self.topics.inputs, self._last_applied)
        ConsumerLag(self._consumer, set(self.topics.inputs), self.registry)
        self._wire()

    def _applier(
        self,
        kind: str,
        store: LocalStore,
        ledger: PaymentLedger | AccountLedger,
        processor: Callable[[int], Process],
        decoder: EventDecoder,
    ) -> BatchApplier:
        topic = self._topic_of[kind]
        return BatchApplier(
            kind=kind,
            topic=topic,
            table=self.stream.payments_table if kind == "payments" else self.stream.accounts_table,
            store=store,
            ledger=ledger,
            processor=processor,
            decode=decoder.decode_payments if kind == "payments" else decoder.decode_accounts,
            producer=self._kafka_producer,
            letters=self._letters,
            owned=lambda: self.owned(topic),
            generation=lambda: self.app.consumer_generation_id,
            on_applied=lambda partition: self.exchange.changed(kind, partition),
        )

    async def _kafka_producer(self) -> Any:
        return kafka_producer(await self.app.maybe_start_producer())

    # -- the numbers ----------------------------------------------------------------------------

    def owned(self, topic: str) -> set[int]:
        """The partitions of `topic` this worker owns now."""
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    def _consumer(self) -> Any:
        """The Faust consumer (it reads the input topics for this worker's agents)."""
        return self.app.consumer

    def _held(self, topic: str, ledger: PaymentLedger | AccountLedger) -> list[int]:
        """The partitions of `topic` this worker owns and `ledger` holds state for, in order."""
        held = set(ledger.partitions)
        return sorted(p for p in self.owned(topic) if p in held)

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

    def _payments_process(self, partition: int) -> Process:
        return lambda records, excluded: self.payments.process(partition, records, excluded)

    def _accounts_process(self, partition: int) -> Process:
        return lambda records, excluded: self.accounts.process(partition, records, excluded)

    def _last_applied(self, tp: TP) -> int | None:
        ledger = self.payments if tp.topic == self.topics.events else self.accounts
        if tp.partition not in set(ledger.partitions):
            return None
        return ledger.meta(tp.partition).last_offset

    # -- Faust wiring ---------------------------------------------------------------------------

    def _wire(self) -> None:
        app, stream = self.app, self.stream
        app.agent(stream.events, name="payments")(self._payments_agent)
        app.agent(stream.accounts, name="accounts")(self._accounts_agent)
        stream.payments_table.on_recover(self.appliers["payments"].recovered)
        stream.accounts_table.on_recover(self.appliers["accounts"].recovered)
        app.on_partitions_revoked.connect(self._on_partitions_revoked)
        app.timer(interval=self.settings.summary_interval_seconds)(self.exchange.publish)
        app.timer(interval=STALL_CHECK_SECONDS)(self.progress.check)
        app.timer(interval=RELEASE_SECONDS)(self._release_memory)
        app.task(self.exchange.follow)
        # Faust makes a view of a handler; a bound method is called with the request alone.
        page: Any = app.page
        page("/metrics")(self._metrics_page)
        page("/healthz")(self._health_page)

    async def _on_partitions_revoked(
        self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any
    ) -> None:
        # Before the worker rejoins the group: the batches stop writing until the tables are
        # recovered for the new assignment, and what they were writing is in Kafka.
        await asyncio.gather(*(applier.revoking() for applier in self.appliers.values()))

    async def _payments_agent(self, stream: Any) -> None:
        s = self.settings
        async for batch in stream.take_events(s.batch_max, s.batch_within_seconds):
            await run_whole_batch(self.appliers["payments"].apply(batch))

    async def _accounts_agent(self, stream: Any) -> None:
        s = self.settings
        async for batch in stream.take_events(s.batch_max, s.batch_within_seconds):
            await run_whole_batch(self.appliers["accounts"].apply(batch))

    async def _release_memory(self) -> None:
        release_free_memory()

    async def _metrics_page(self, request: Any) -> Any:
        body = generate_latest(self.registry)
        return self.app.web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def _health_page(self, request: Any) -> Any:
        return self.app.web.json(self.health())

    def health(self) -> dict[str, Any]:
        """Where each owned input partition stands (the offset of its last applied record), and
        the covered persons per accounts partition, in this worker's ledger and as the merged
        summaries (which the exported coverage comes from) have them."""
        ledgers: tuple[tuple[str, str, PaymentLedger | AccountLedger], ...] = (
            ("payments", self.topics.events, self.payments),
            ("accounts", self.topics.accounts, self.accounts),
        )
        last_offsets = {
            kind: {str(p): ledger.meta(p).last_offset for p in self._held(topic, ledger)}
            for kind, topic, ledger in ledgers
        }
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
        return {"status": "ok", "owned": owned, "last_offsets": last_offsets, "holders": holders}

    # -- running --------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        """This worker's local state: one directory per app and web port, so that workers started
        side by side on one machine never share a RocksDB database."""
        return Path(self.settings.state_dir) / f"{self.settings.app_id}-{self.settings.web_port}"

    def run(self) -> None:
        """Create the topics, check the local store, then run until stopped (SIGTERM or Ctrl-C
        stop it cleanly)."""
        for problem in seam_problems():
            logger.warning(
                "Faust's internals differ from what this worker was tested on: %s", problem
            )
        # Before anything is written: a full or read-only disk is one clear error, not RocksDB's.
        check_data_dir(self.datadir, "worker state", min_free_bytes=64 * 1024**2)
        # Faust's changelogs must have the partition counts of their source topics; creating
        # them here avoids its startup race with a stale metadata cache.
        changelogs = changelog_topics(self.settings.app_id, self.topics)
        cluster = ensure_topics(
            self.kafka.bootstrap_servers,
            self.topics,
            compacted=changelogs,
            **self.kafka.kafka_python_config(),
        )
        tables = (self.stream.payments_table, self.stream.accounts_table)
        guard_store(
            self.datadir,
            tables_dir(self.app),
            cluster.cluster_id,
            {
                table.changelog_topic.get_topic_name(): persisted_offsets(table, changelogs[name])
                for table in tables
                for name in [table.changelog_topic.get_topic_name()]
            },
            cluster.end_offsets,
        )
        shared = SharedMemoryOptions()  # one memory budget for both tables' databases
        for applier in self.appliers.values():
            applier.store.share(shared)
        tune_garbage_collector()
        worker = faust.Worker(self.app, loglevel=logging.getLogger().level or logging.INFO)
        worker.execute_from_commandline()
