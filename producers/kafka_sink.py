"""The Kafka producer every event source writes through: durable, batched, failures surfaced.

`KafkaEventSink` wraps a kafka-python `KafkaProducer` configured for durability (acks=all,
idempotence, retries with backoff bounded by a delivery timeout) and for throughput (linger,
large batches, lz4 or gzip compression). It writes the three topics of contract 1:

- `send_payments(key, events)` and `send_accounts(key, events)` write one Kafka record per call:
  a single JSON object for one event, a JSON array for several (all sharing the record key);
- `send_dead_letter(dl)` writes one DLQ record.

Sends are asynchronous. Every record's future is tracked, and `flush()` waits for all of them
and raises `DeliveryError` naming how many failed, so a failure to deliver is never swallowed.
The sink is a context manager that flushes and closes on exit; `terminate_on_sigterm()` turns
SIGTERM into a normal exit so that this flush also happens when a process is asked to stop
(commands install it; nothing is installed at import).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Literal, Self

from kafka import KafkaProducer
from kafka.errors import KafkaError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless.deadletter import DeadLetter
from cashless.errors import CashlessError
from cashless.schema import DEFAULT_MAX_RECORD_BYTES, AccountEvent, Event, PaymentEvent
from cashless.settings import KafkaSettings
from cashless.topics import Topics, ensure_topics
from producers.batching import batches, split_oversize

__all__ = [
    "DeliveryError",
    "KafkaEventSink",
    "ProducerSettings",
    "SinkStats",
    "terminate_on_sigterm",
]

logger = logging.getLogger(__name__)

Compression = Literal["lz4", "gzip", "none"]

# Prune settled futures once this many are pending, so memory stays flat on long runs.
_PRUNE_EVERY = 20_000


class ProducerSettings(BaseSettings):
    """Tuning of the Kafka producer (env `CASHLESS_PRODUCER_*`, e.g. `CASHLESS_PRODUCER_LINGER_MS`).

    Durability is not configurable: acks=all and idempotence are always on.
    """

    model_config = SettingsConfigDict(env_prefix="CASHLESS_PRODUCER_", frozen=True, extra="ignore")

    linger_ms: int = Field(default=20, ge=0, le=60_000)
    batch_size: int = Field(default=512 * 1024, ge=1024)
    compression: Compression = "lz4"
    retries: int = Field(default=2_147_483_647, ge=1)
    retry_backoff_ms: int = Field(default=100, ge=0)
    delivery_timeout_ms: int = Field(default=120_000, ge=1000)
    request_timeout_ms: int = Field(default=30_000, ge=1000)
    max_block_ms: int = Field(default=60_000, ge=0)
    max_request_size: int = Field(default=1_048_576, ge=1024)
    max_record_bytes: int = Field(default=DEFAULT_MAX_RECORD_BYTES - 48 * 1024, ge=1024)
    max_events_per_record: int = Field(default=500, ge=1, le=100_000)
    flush_timeout_seconds: float = Field(default=120.0, gt=0)
    client_id: str = "cashless-producer"

    def producer_config(self) -> dict[str, Any]:
        """The kafka-python `KafkaProducer` keyword arguments these settings stand for."""
        return {
            "acks": "all",
            "enable_idempotence": True,
            "max_in_flight_requests_per_connection": 5,
            "retries": self.retries,
            "retry_backoff_ms": self.retry_backoff_ms,
            "delivery_timeout_ms": self.delivery_timeout_ms,
            "request_timeout_ms": self.request_timeout_ms,
            "max_block_ms": self.max_block_ms,
            "linger_ms": self.linger_ms,
            "batch_size": self.batch_size,
            "max_request_size": self.max_request_size,
            "compression_type": None if self.compression == "none" else self.compression,
            "client_id": self.client_id,
        }


class DeliveryError(CashlessError):
    """Records were sent but Kafka did not acknowledge them (or they could not be sent at all)."""

    def __init__(self, failed: int, total: int, first: BaseException | None) -> None:
        self.failed = failed
        self.total = total
        self.first = first
        cause = f": {type(first).__name__}: {first}" if first is not None else ""
        super().__init__(f"{failed} of {total} Kafka records failed to deliver{cause}")


@dataclass
class SinkStats:
    """What a sink has sent since it was opened (records, events inside them, DLQ records)."""

    records: int = 0
    payments: int = 0
    accounts: int = 0
    dead_letters: int = 0
    raw: int = 0
    failed: int = 0


class KafkaEventSink:
    """Writes events and dead letters to the project's topics; see the module docstring."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Topics | None = None,
        settings: ProducerSettings | None = None,
        *,
        create_topics: bool = True,
    ) -> None:
        self.kafka = kafka
        self.topics = topics if topics is not None else Topics(kafka.topic_prefix)
        self.settings = settings if settings is not None else ProducerSettings()
        self.stats = SinkStats()
        # Re-entrant: a future that has already failed runs its errback inside add_errback.
        self._lock = threading.RLock()
        self._pending: list[Any] = []
        self._unflushed_total = 0
        self._unflushed_failed = 0
        self._first_error: BaseException | None = None
        self._generation = 0
        self._closed = False
        security = kafka.kafka_python_config()
        if create_topics:  # which first makes sure that Kafka answers at all
            ensure_topics(kafka.bootstrap_servers, self.topics, **security)
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=kafka.bootstrap_servers.split(","),
                **self.settings.producer_config(),
                **security,
            )
        except (KafkaError, OSError) as exc:
            raise CashlessError(
                f"cannot start a Kafka producer for {kafka.bootstrap_servers}: {exc}"
            ) from exc

    # -- sending ---------------------------------------------------------------------------------

    def send_payments(self, key: str, events: Sequence[PaymentEvent]) -> None:
        """Send payment events sharing the key `channel:segment` as one record on the events topic.

        A batch whose JSON would exceed `max_record_bytes` is split into several records rather
        than produce a record that the consumers must reject as oversize.
        """
        for event in events:
            if event.key != key:
                raise ValueError(f"payment event key {event.key!r} does not match {key!r}")
        self._send_events(self.topics.events, key, events)
        self.stats.payments += len(events)

    def send_accounts(self, key: str, events: Sequence[AccountEvent]) -> None:
        """Send account events of one holder (the key) as one record on the accounts topic."""
        for event in events:
            if event.holder != key:
                raise ValueError("account event holder does not match the record key")
        self._send_events(self.topics.accounts, key, events)
        self.stats.accounts += len(events)

    def send_events(self, events: Iterable[Event]) -> None:
        """Group any events by kind and key and send them in records of `max_events_per_record`."""
        payments: list[PaymentEvent] = []
        accounts: list[AccountEvent] = []
        for event in events:
            if isinstance(event, PaymentEvent):
                payments.append(event)
            else:
                accounts.append(event)
        size = self.settings.max_events_per_record
        for key, batch in batches(payments, _key, size):
            self.send_payments(key, batch)
        for holder, owned in batches(accounts, _key, size):
            self.send_accounts(holder, owned)

    def send_dead_letter(self, dl: DeadLetter) -> None:
        """Send one DLQ record, keyed by the rejected input's source when it was readable."""
        key = dl.source.encode() if dl.source else None
        self._send(self.topics.dlq, key, dl.encode())
        self.stats.dead_letters += 1

    def send_raw(self, topic: str, key: str | None, value: bytes) -> None:
        """Send one record exactly as given, unvalidated (the simulator's broken producer).

        Delivery is tracked like every other record; `flush()` raises if it fails.
        """
        self._send(topic, None if key is None else key.encode(), value)
        self.stats.raw += 1

    def _send_events(self, topic: str, key: str, events: Sequence[Event]) -> None:
        for value, _ in split_oversize(events, self.settings.max_record_bytes):
            self._send(topic, key.encode(), value)

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self._closed:
            raise CashlessError("the Kafka sink is closed")
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            with self._lock:
                self._unflushed_total += 1
                self._unflushed_failed += 1
                self.stats.failed += 1
            raise DeliveryError(1, 1, exc) from exc
        with self._lock:
            future.add_errback(self._on_error, self._generation)
            self._pending.append(future)
            self._unflushed_total += 1
            self.stats.records += 1
            if len(self._pending) >= _PRUNE_EVERY:
                self._pending = [f for f in self._pending if not f.is_done]

    def _on_error(self, generation: int, exc: BaseException) -> None:
        # Runs on the producer's I/O thread; counting only, the error is raised by flush().
        # A record that a flush already counted as unsettled (timed out) is not counted again.
        with self._lock:
            if generation != self._generation:
                return
            self._unflushed_failed += 1
            self.stats.failed += 1
            if self._first_error is None:
                self._first_error = exc

    # -- flushing and closing --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every record sent so far is acknowledged; return how many were sent.

        Raises `DeliveryError` naming how many of them failed (timeouts included); the
        failure count is reset afterwards, so each failure is raised once.
        """
        wait = self.settings.flush_timeout_seconds if timeout is None else timeout
        try:
            self._producer.flush(timeout=wait)
        except KafkaError as exc:
            logger.warning("Kafka flush did not complete within %.0f s: %s", wait, exc)
        with self._lock:
            pending, self._pending = self._pending, []
            unsettled = sum(1 for f in pending if not f.is_done)
            failed = self._unflushed_failed + unsettled
            total = self._unflushed_total
            first = self._first_error
            self.stats.failed += unsettled
            self._unflushed_total = self._unflushed_failed = 0
            self._first_error = None
            self._generation += 1
        if failed:
            raise DeliveryError(failed, total, first)
        return total

    def close(self) -> None:
        """Flush (raising `DeliveryError` on failures) and close the producer; idempotent."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            try:
                self._producer.close(timeout=10)
            except KafkaError as exc:  # pragma: no cover - closing after a failed flush
                logger.warning("closing the Kafka producer: %s", exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _key(event: Event) -> str:
    return event.key


class _Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives, so context managers unwind and flush."""


@contextmanager
def terminate_on_sigterm(exit_code: int = 143) -> Iterator[None]:
    """Within the block, SIGTERM unwinds the main thread like `sys.exit(exit_code)`.

    Open `KafkaEventSink`s therefore flush on the way out. Only usable from the main thread;
    the previous handler is restored afterwards.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, frame: FrameType | None) -> None:
        logger.warning("SIGTERM received: flushing and stopping")
        raise _Terminated(exit_code)

    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
