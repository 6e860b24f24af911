"""The summaries workers share through Kafka: each publishes its partitions' summaries, and every
worker reads everyone's, so that city-wide numbers cover all partitions whoever owns them."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from cashless.eventtime import window_end
from cashless.settings import KafkaSettings
from streams.coverage import AccountLedger
from streams.ledger import PaymentLedger
from streams.summary import GlobalView, PartitionSummary, summarise_accounts, summarise_payments

__all__ = ["SummaryExchange"]


class SummaryExchange:
    """Publishes this worker's changed summaries and follows every worker's."""

    def __init__(
        self,
        *,
        view: GlobalView,
        payments: PaymentLedger,
        accounts: AccountLedger,
        topic: object,
        topic_name: str,
        kafka: KafkaSettings,
        owned: Callable[[str], set[int]],
    ) -> None:
        self._view = view
        self._payments = payments
        self._accounts = accounts
        self._topic = topic
        self._topic_name = topic_name
        self._kafka = kafka
        self._owned = owned  # kind ("payments" or "accounts") -> the partitions owned now
        self._dirty: set[tuple[str, int]] = set()
        self._published_end: int | None = None

    def changed(self, kind: str, partition: int) -> None:
        """Note that a partition's state changed: its summary goes out at the next publish."""
        self._dirty.add((kind, partition))

    async def publish(self) -> None:
        """Publish the summaries that changed, and all payments summaries when `e` moved."""
        latest = max(
            filter(None, (self._view.stream_time, self._payments.stream_time)), default=None
        )
        end = None if latest is None else window_end(latest)
        moved = end != self._published_end
        dirty, self._dirty = self._dirty, set()
        if moved:
            dirty |= {("payments", p) for p in self._owned("payments")}
            self._published_end = end
        for kind, partition in sorted(dirty):
            await self._send(kind, partition, end)

    async def _send(self, kind: str, partition: int, end: int | None) -> None:
        if partition not in self._owned(kind):
            return
        if kind == "payments":
            summary = summarise_payments(self._payments, partition, end)
        else:
            summary = summarise_accounts(self._accounts, partition)
        self._view.update(summary)
        await self._topic.send(  # type: ignore[attr-defined]
            key=summary.key.encode(), value=msgspec.json.encode(summary), force=True
        )

    async def follow(self) -> None:
        """Read every partition's summary, from every worker, for as long as the worker runs."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._kafka.aiokafka_config(),
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self._topic_name, 0)])
            decode = msgspec.json.Decoder(PartitionSummary).decode
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for message in messages:
                        if message.value is not None:
                            self._view.update(decode(message.value))
        finally:
            await consumer.stop()
