"""Events through the real Kafka, and Prometheus scraping a real endpoint."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from cashless.schema import EventDecoder, PaymentEvent, encode, encode_batch
from cashless.taxonomy import load_taxonomy
from tests.conftest import RunningStack, wait_for

pytestmark = pytest.mark.integration


def make_events(n: int) -> list[PaymentEvent]:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    return [
        PaymentEvent(
            schema=1,
            event_id=f"evt-{i}",
            occurred_at=start + timedelta(minutes=i),
            source="hawaco",
            channel="utility",
            segment="water",
            district="dong-da",
            method="qr" if i % 3 else "cash",
            amount_vnd=1000 + i,
        )
        for i in range(n)
    ]


async def consume_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(values) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                values.extend(m.value for msgs in batches.values() for m in msgs)
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


def test_events_round_trip_through_the_real_broker(running_stack: RunningStack) -> None:
    topic = f"payments.events.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=running_stack.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()

    events = make_events(50)
    producer = KafkaProducer(bootstrap_servers=running_stack.bootstrap, acks="all")
    for event in events[:20]:
        producer.send(topic, key=event.key.encode(), value=encode(event))
    producer.send(topic, key=b"utility:water", value=encode_batch(events[20:]))
    producer.send(topic, key=b"utility:water", value=b"{broken")
    producer.flush(timeout=30)
    producer.close()

    values = asyncio.run(consume_all(running_stack.bootstrap, topic, expected=22))
    decoder = EventDecoder(load_taxonomy())
    results = [decoder.decode_payments(v) for v in values]
    received = [e for r in results for e in r.events]
    assert received == events, "every event arrives once, intact and in key order"
    assert [x.reason for r in results for x in r.rejections] == ["bad_json"]


def test_prometheus_scrapes_a_real_endpoint(running_stack: RunningStack) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("cashless_fixture_probe", "A value set by the test.", registry=registry)
    gauge.set(0.42)
    server, thread = start_http_server(running_stack.target_port, "127.0.0.1", registry=registry)
    try:

        def scraped() -> float | None:
            response = httpx.get(
                f"{running_stack.prometheus_url}/api/v1/query",
                params={"query": "cashless_fixture_probe"},
                timeout=5,
            )
            result = response.json()["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        assert wait_for(scraped, timeout=30, what="Prometheus to scrape the probe") == 0.42
        targets = httpx.get(f"{running_stack.prometheus_url}/api/v1/targets", timeout=5).json()
        worker = [
            t for t in targets["data"]["activeTargets"] if t["labels"]["job"] == "cashless-worker"
        ]
        assert [t["health"] for t in worker] == ["up"]
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_prometheus_loaded_the_project_rules(running_stack: RunningStack) -> None:
    rules = httpx.get(f"{running_stack.prometheus_url}/api/v1/rules", timeout=5).json()
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert "CashlessWorkerDown" in names


def test_alertmanager_answers_its_api(running_stack: RunningStack) -> None:
    status = httpx.get(f"{running_stack.alertmanager_url}/api/v2/status", timeout=5).json()
    assert status["cluster"]["status"] == "disabled"
