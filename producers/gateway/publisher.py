"""Publishing accepted events: the records they make, and the aiokafka publisher that sends them.

`build_records` cuts a request's events into Kafka records by the producers' one batching rule
(`producers.batching`); `KafkaPublisher` sends them with an idempotent producer (acks=all) and
answers only once Kafka acknowledged all of them. `Publisher` is what the app needs of it, so
unit tests put a fake in its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from cashless.errors import CashlessError
from cashless.schema import DEFAULT_MAX_RECORD_BYTES, Event, PaymentEvent
from cashless.settings import KafkaSettings
from cashless.topics import Topics, ensure_topics
from producers.batching import batches, split_oversize
from producers.gateway.errors import PublishError
from producers.gateway.settings import GatewaySettings

__all__ = ["KafkaPublisher", "OutRecord", "Publisher", "build_records"]

# One logger name for the whole gateway (not one per module): what operators filter on.
logger = logging.getLogger("producers.gateway")


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One Kafka record the gateway sends: its topic, key, value and how many events it holds."""

    topic: str
    key: bytes
    value: bytes
    events: int


class Publisher(Protocol):
    """Where accepted records go: `KafkaPublisher`, or a fake in unit tests."""

    @property
    def ready(self) -> bool:
        """True while records can be sent (Kafka answers)."""

    async def start(self) -> None:
        """Begin connecting (in the background: the gateway starts even while Kafka is down)."""

    async def stop(self) -> None:
        """Deliver what is pending, within the shutdown timeout, and disconnect."""

    async def publish(self, records: Sequence[OutRecord], timeout: float) -> None:
        """Return once Kafka acknowledged every record; raise `PublishError` otherwise."""


def build_records(
    events: Sequence[Event],
    topics: Topics,
    *,
    events_per_record: int = 500,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
) -> list[OutRecord]:
    """The Kafka records for accepted events: grouped per key, a JSON object for one event and
    an array for several, split so that no record exceeds `max_record_bytes`."""

    def destination(event: Event) -> tuple[str, str]:
        topic = topics.events if isinstance(event, PaymentEvent) else topics.accounts
        return topic, event.key

    return [
        OutRecord(topic, key.encode(), value, count)
        for (topic, key), batch in batches(events, destination, events_per_record)
        for value, count in split_oversize(batch, max_record_bytes)
    ]


class KafkaPublisher:
    """Sends records with an idempotent aiokafka producer (acks=all) and watches Kafka's health.

    A background task connects (creating the topics once), then asks Kafka for metadata every
    `probe_interval_seconds`: `ready` follows the answers. While not ready, `publish` fails at
    once rather than queueing, so an outage costs clients a fast 503, not a timeout each. A
    non-retriable send failure discards the producer, and the task starts a fresh one.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: GatewaySettings,
        topics: Topics,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._topics = topics
        self._outage_logged = False
        self._stopping = False
        self._producer: Any = None
        self._ready = False
        self._why = "not connected to Kafka yet"
        self._topics_done = not settings.create_topics
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def ready(self) -> bool:
        """True while Kafka answers the producer."""
        return self._ready

    async def start(self) -> None:
        """Start the background task that connects and probes."""
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="gateway-kafka")

    async def stop(self) -> None:
        """Stop probing, deliver what is pending (bounded by the shutdown timeout), disconnect."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        producer, self._producer = self._producer, None
        self._set_ready(False, "stopped")
        if producer is not None:
            await self._close(producer)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def publish(self, records: Sequence[OutRecord], timeout: float) -> None:
        """Send the records; return once Kafka acknowledged all of them (see the class doc)."""
        producer = self._producer
        if producer is None or not self._ready:
            raise PublishError(self._why)
        try:
            async with asyncio.timeout(timeout):
                await self._send_all(producer, records)
        except TimeoutError:
            why = f"Kafka did not acknowledge within {timeout:g} s"
            self._set_ready(False, why)
            raise PublishError(why) from None
        except KafkaError as exc:
            why = f"Kafka refused the records: {_describe(exc)}"
            if getattr(exc, "retriable", False):
                logger.warning("%s", why)
            else:
                self._discard(producer, why)
            raise PublishError(why) from None

    @staticmethod
    async def _send_all(producer: Any, records: Sequence[OutRecord]) -> None:
        futures = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        # Wait for every record (retrieving every failure), then raise the first failure.
        for outcome in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _supervise(self) -> None:
        while not self._stopping:
            if self._producer is None:
                await self._connect()
            else:
                await self._probe(self._producer)
            await asyncio.sleep(self._settings.probe_interval_seconds)

    def _new_producer(self) -> Any:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=self._kafka.bootstrap_servers.split(","),
            client_id="cashless-gateway",
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=512 * 1024,
            max_request_size=DEFAULT_MAX_RECORD_BYTES,
            request_timeout_ms=int(s.connect_timeout_seconds * 1000),
            retry_backoff_ms=100,
            **self._kafka.aiokafka_config(),
        )

    async def _connect(self) -> None:
        producer = self._new_producer()
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # races with the inner call's failure, and then stop() would wait forever.
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                await producer.start()
            if not self._topics_done:
                timeout_ms = int(self._settings.connect_timeout_seconds * 1000)
                await asyncio.to_thread(
                    ensure_topics,
                    self._kafka.bootstrap_servers,
                    self._topics,
                    bootstrap_timeout_ms=timeout_ms,
                    request_timeout_ms=timeout_ms,
                    **self._kafka.kafka_python_config(),
                )
                self._topics_done = True
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                # Fetch the topics' metadata now rather than in the first request.
                await producer.partitions_for(self._topics.events)
                await producer.partitions_for(self._topics.accounts)
        except (KafkaError, CashlessError, OSError, TimeoutError) as exc:
            await self._close(producer)
            self._set_ready(
                False,
                f"cannot connect to Kafka at {self._kafka.bootstrap_servers}: {_describe(exc)}",
            )
            return
        except asyncio.CancelledError:  # stopped while connecting
            await self._close(producer)
            raise
        self._producer = producer
        self._set_ready(True, "connected")

    async def _probe(self, producer: Any) -> None:
        try:
            # A metadata request for the producer's own topics, through its own client: it also
            # refreshes the leaders the producer sends to.
            async with asyncio.timeout(self._settings.connect_timeout_seconds):
                updated = await producer.client.force_metadata_update()
            if not updated:
                raise KafkaError("no broker answered a metadata request")
        except (KafkaError, OSError, TimeoutError) as exc:
            self._set_ready(
                False, f"Kafka at {self._kafka.bootstrap_servers} does not answer: {_describe(exc)}"
            )
        else:
            self._set_ready(True, "connected")

    def _discard(self, producer: Any, why: str) -> None:
        if self._producer is not producer:
            return
        self._producer = None
        self._set_ready(False, why)
        task = asyncio.create_task(self._close(producer))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, producer: Any) -> None:
        try:
            async with asyncio.timeout(self._settings.shutdown_timeout_seconds):
                await producer.stop()
        except (KafkaError, OSError, TimeoutError) as exc:
            logger.warning(
                "the Kafka producer did not close cleanly within %g s (%s): records of requests "
                "that were answered 503 may not have been delivered",
                self._settings.shutdown_timeout_seconds,
                _describe(exc),
            )

    def _set_ready(self, ready: bool, why: str) -> None:
        # One log line per outage and one per recovery, not one per failed probe or request.
        if ready and not self._ready:
            logger.info("Kafka at %s is reachable: accepting events", self._kafka.bootstrap_servers)
        elif not ready and not self._outage_logged and why != "stopped":
            logger.warning("%s: answering 503 until Kafka is back", why)
        self._outage_logged = not ready and (self._outage_logged or why != "stopped")
        self._ready = ready
        self._why = "" if ready else why


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if not text:
        return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"
