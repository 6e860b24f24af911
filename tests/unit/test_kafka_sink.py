"""The Kafka sink without a broker: record shapes, keys, and failures that are never swallowed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from kafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from kafka.future import Future

from cashless.deadletter import dead_letter
from cashless.schema import AccountEvent, PaymentEvent, Rejection
from cashless.settings import KafkaSettings
from cashless.topics import Topics
from producers import kafka_sink
from producers.kafka_sink import (
    DeliveryError,
    KafkaEventSink,
    ProducerSettings,
    terminate_on_sigterm,
)

HOLDER = "ab" * 32


class FakeProducer:
    """Records sends; `flush` settles every future, failing the ones listed in `fail`."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.futures: list[Future] = []
        self.fail: set[int] = set()
        self.raise_on_send: Exception | None = None
        self.fail_at_once = False
        self.settle = True
        self.closed = False

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> Future:
        if self.raise_on_send is not None:
            raise self.raise_on_send
        self.sent.append((topic, key, value))
        future = Future()
        if self.fail_at_once:
            future.failure(NotLeaderForPartitionError("already failed"))
        self.futures.append(future)
        return future

    def flush(self, timeout: float | None = None) -> None:
        if not self.settle:
            raise KafkaTimeoutError("flush timed out")
        for i, future in enumerate(self.futures):
            if not future.is_done:
                if i in self.fail:
                    future.failure(NotLeaderForPartitionError("leader moved"))
                else:
                    future.success(None)

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[KafkaEventSink]:
    monkeypatch.setattr(kafka_sink, "KafkaProducer", FakeProducer)
    sink = KafkaEventSink(
        KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="t."),
        settings=ProducerSettings(max_record_bytes=4096),
        create_topics=False,
    )
    yield sink
    fake(sink).fail.clear()
    fake(sink).settle = True
    sink.close()


def fake(sink: KafkaEventSink) -> FakeProducer:
    producer = sink._producer
    assert isinstance(producer, FakeProducer)
    return producer


def payments(n: int, segment: str = "water") -> list[PaymentEvent]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        PaymentEvent(
            schema=1,
            event_id=f"e{i}",
            occurred_at=start + timedelta(seconds=i),
            source="hawaco",
            channel="utility",
            segment=segment,
            district="dong-da",
            method="qr",
            amount_vnd=1000 + i,
        )
        for i in range(n)
    ]


def account(i: int = 0) -> AccountEvent:
    return AccountEvent(
        schema=1,
        event_id=f"a{i}",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        source="momo",
        type="opened",
        holder=HOLDER,
        district="ba-dinh",
    )


def test_producer_config_is_durable_and_batched() -> None:
    config = ProducerSettings().producer_config()
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True
    assert config["max_in_flight_requests_per_connection"] <= 5
    assert config["retries"] > 0
    assert config["compression_type"] == "lz4"
    assert config["linger_ms"] > 0
    assert ProducerSettings(compression="none").producer_config()["compression_type"] is None


def test_producer_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHLESS_PRODUCER_COMPRESSION", "gzip")
    monkeypatch.setenv("CASHLESS_PRODUCER_LINGER_MS", "5")
    settings = ProducerSettings()
    assert (settings.compression, settings.linger_ms) == ("gzip", 5)


def test_configured_codecs_are_available() -> None:
    from kafka.codec import has_gzip, has_lz4

    assert has_gzip()
    assert has_lz4(), "the lz4 package is a dependency"


def test_one_event_is_an_object_several_are_an_array(sink: KafkaEventSink) -> None:
    events = payments(3)
    sink.send_payments("utility:water", events[:1])
    sink.send_payments("utility:water", events)
    (t1, k1, v1), (t2, k2, v2) = fake(sink).sent
    assert (t1, k1) == (t2, k2) == ("t.payments.events", b"utility:water")
    assert msgspec.json.decode(v1, type=PaymentEvent) == events[0]
    assert msgspec.json.decode(v2, type=list[PaymentEvent]) == events
    assert sink.flush() == 2
    assert (sink.stats.records, sink.stats.payments) == (2, 4)


def test_accounts_are_keyed_by_holder(sink: KafkaEventSink) -> None:
    sink.send_accounts(HOLDER, [account()])
    assert fake(sink).sent == [("t.payments.accounts", HOLDER.encode(), fake(sink).sent[0][2])]
    with pytest.raises(ValueError, match="holder"):
        sink.send_accounts("cd" * 32, [account()])


def test_a_key_that_does_not_match_the_events_is_misuse(sink: KafkaEventSink) -> None:
    with pytest.raises(ValueError, match="does not match"):
        sink.send_payments("utility:electricity", payments(2))
    assert fake(sink).sent == []


def test_an_oversize_batch_is_split_not_rejected_downstream(sink: KafkaEventSink) -> None:
    events = payments(100)
    sink.send_payments("utility:water", events)
    values = [v for _, _, v in fake(sink).sent]
    assert len(values) > 1
    assert all(len(v) <= 4096 for v in values)
    received = [e for v in values for e in msgspec.json.decode(v, type=list[PaymentEvent])]
    assert received == events


def test_send_events_groups_by_key(sink: KafkaEventSink) -> None:
    sink.send_events([*payments(2, "water"), account(), *payments(1, "electricity")])
    keys = sorted((t, k) for t, k, _ in fake(sink).sent)
    assert keys == [
        ("t.payments.accounts", HOLDER.encode()),
        ("t.payments.events", b"utility:electricity"),
        ("t.payments.events", b"utility:water"),
    ]


def test_dead_letters_go_to_the_dlq(sink: KafkaEventSink) -> None:
    rejection = Rejection(reason="bad_json", detail="x", source="hawaco")
    dl = dead_letter(rejection, origin="test", raw=b"{", hash_key=b"k")
    sink.send_dead_letter(dl)
    assert fake(sink).sent == [("t.payments.dlq", b"hawaco", dl.encode())]
    assert sink.stats.dead_letters == 1


def test_failed_deliveries_are_raised_by_flush_and_counted(sink: KafkaEventSink) -> None:
    for _ in range(5):
        sink.send_payments("utility:water", payments(1))
    fake(sink).fail = {1, 3}
    with pytest.raises(DeliveryError, match="2 of 5 Kafka records failed") as raised:
        sink.flush()
    assert raised.value.failed == 2
    assert isinstance(raised.value.first, NotLeaderForPartitionError)
    assert sink.flush() == 0, "each failure is raised once"
    assert sink.stats.failed == 2


def test_a_record_that_failed_before_send_returned_is_counted(sink: KafkaEventSink) -> None:
    fake(sink).fail_at_once = True
    sink.send_payments("utility:water", payments(1))
    sink.send_payments("utility:water", payments(1))
    with pytest.raises(DeliveryError, match="2 of 2"):
        sink.flush()


def test_unsettled_records_after_a_flush_timeout_count_as_failed(sink: KafkaEventSink) -> None:
    sink.send_payments("utility:water", payments(1))
    fake(sink).settle = False
    with pytest.raises(DeliveryError, match="1 of 1"):
        sink.flush(timeout=0.01)


def test_a_send_that_cannot_even_start_raises_at_once(sink: KafkaEventSink) -> None:
    fake(sink).raise_on_send = KafkaTimeoutError("no metadata")
    with pytest.raises(DeliveryError, match="1 of 1"):
        sink.send_payments("utility:water", payments(1))
    fake(sink).raise_on_send = None
    with pytest.raises(DeliveryError):
        sink.flush()


def test_context_manager_flushes_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_sink, "KafkaProducer", FakeProducer)
    with KafkaEventSink(KafkaSettings(), create_topics=False) as sink:
        sink.send_payments("utility:water", payments(1))
        producer = fake(sink)
        producer.fail = {0}
        with pytest.raises(DeliveryError):
            sink.__exit__(None, None, None)
    assert producer.closed
    with pytest.raises(Exception, match="closed"):
        sink.send_payments("utility:water", payments(1))


def test_default_topics_follow_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_sink, "KafkaProducer", FakeProducer)
    with KafkaEventSink(KafkaSettings(topic_prefix="x."), create_topics=False) as sink:
        assert sink.topics == Topics("x.")


def test_sigterm_unwinds_the_main_thread() -> None:
    previous = signal.getsignal(signal.SIGTERM)

    def terminated() -> None:
        with terminate_on_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)  # give the interpreter a point to run the handler

    with pytest.raises(SystemExit) as raised:
        terminated()
    assert raised.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is previous
