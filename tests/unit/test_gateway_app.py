"""The gateway's HTTP logic with a fake publisher: auth, limits, all-or-nothing, 202 only on ack.

Each test serves the real application in-process with `run_gateway` on a free port, with a
`FakePublisher` in place of Kafka, so every branch is exercised without a broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import msgspec
import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate as validate_openapi
from prometheus_client import CollectorRegistry

from cashless.anonymise import Anonymiser
from cashless.errors import ConfigError
from cashless.privacy import is_pseudonym
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.settings import KafkaSettings, settings_from
from cashless.taxonomy import load_taxonomy
from cashless.topics import Topics
from cli.main import cli
from ops.stack.ports import free_port
from producers.gateway.app import Gateway
from producers.gateway.errors import GatewayError, PublishError
from producers.gateway.openapi import openapi_document
from producers.gateway.publisher import KafkaPublisher, OutRecord, build_records
from producers.gateway.runner import run_gateway
from producers.gateway.settings import GatewaySettings
from producers.gateway.tokens import TokenStore, TokenVerifier
from tests.replay_data import card_number, citizen_id, full_name, phone_number
from tests.tls import self_signed

KEY = b"unit-test-pseudonym-key-0123456789"
NOW = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
TOPICS = Topics("unit.")
Client = aiohttp.ClientSession


@dataclass
class FakePublisher:
    """Records what would be sent; `ready`/`fail` simulate an outage or a failed send."""

    ready: bool = True
    fail: bool = False
    records: list[OutRecord] = field(default_factory=list)
    started: bool = False
    stopped: bool = False
    timeouts: list[float] = field(default_factory=list)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def publish(self, records: Sequence[OutRecord], timeout: float) -> None:
        self.timeouts.append(timeout)
        if not self.ready or self.fail:
            raise PublishError("Kafka at 10.9.8.7:9092 is down")
        self.records.extend(records)


@dataclass
class Setup:
    gateway: Gateway
    publisher: FakePublisher
    tokens: TokenStore
    hawaco: str
    momo: str
    registry: CollectorRegistry

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.hawaco}"}

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def run(
        self,
        scenario: Callable[[Client], Awaitable[None]],
        *,
        trust: ssl.SSLContext | None = None,
    ) -> None:
        """Serve with `run_gateway` (as `cashless gateway` does) on a free port, run `scenario`
        with a client of the served URL (trusting the certificate in `trust` for HTTPS)."""

        async def go() -> None:
            stop = asyncio.Event()
            urls: list[str] = []
            server = asyncio.create_task(run_gateway(self.gateway, stop=stop, started=urls.append))
            try:
                while not urls:
                    assert not server.done(), server.result()
                    await asyncio.sleep(0.01)
                connector = aiohttp.TCPConnector(ssl=trust if trust is not None else True)
                async with aiohttp.ClientSession(base_url=urls[0], connector=connector) as client:
                    await scenario(client)
            finally:
                stop.set()
                await server

        asyncio.run(go())


def make_setup(
    tmp_path: Path, monotonic: Callable[[], float] = time.monotonic, **settings: Any
) -> Setup:
    tokens = TokenStore(tmp_path / "tokens.json")
    _, hawaco = tokens.add("hawaco")
    _, momo = tokens.add("momo")
    publisher = FakePublisher()
    registry = CollectorRegistry()
    gateway = Gateway(
        GatewaySettings(**{"port": free_port(), **settings}),
        taxonomy=load_taxonomy(),
        anonymiser=Anonymiser(KEY),
        verifier=TokenVerifier(tokens.path),
        publisher=publisher,
        topics=TOPICS,
        registry=registry,
        clock=lambda: NOW,
        monotonic=monotonic,
    )
    return Setup(gateway, publisher, tokens, hawaco, momo, registry)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return make_setup(tmp_path)


def payment(i: int, source: str = "hawaco", **changes: Any) -> dict[str, Any]:
    """A raw payment as a utility would push it, personal data included."""
    record: dict[str, Any] = {
        "schema": 1,
        "event_id": f"p-{i}",
        "occurred_at": "2026-02-01T08:00:00+07:00",
        "source": source,
        "channel": "utility",
        "segment": "water" if i % 2 else "electricity",
        "district": "ba-dinh",
        "method": "qr" if i % 3 else "cash",
        "amount_vnd": 1000 + i,
        "payer": phone_number(i),
        "customer_name": full_name(i),
        "card_number": card_number(i),
        "note": f"CCCD {citizen_id(i)}",
    }
    record.update(changes)
    return record


def account(i: int, source: str = "momo", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": 1,
        "event_id": f"a-{i}",
        "occurred_at": "2026-02-01T08:00:00+07:00",
        "source": source,
        "type": "opened",
        "holder": phone_number(i),
        "district": "cau-giay",
        "full_name": full_name(i),
    }
    record.update(changes)
    return record


def decoded(records: list[OutRecord]) -> list[PaymentEvent | AccountEvent]:
    decoder = EventDecoder(load_taxonomy(), clock=lambda: NOW)
    events: list[PaymentEvent | AccountEvent] = []
    for record in records:
        if record.topic == TOPICS.events:
            result = decoder.decode_payments(record.value)
        else:
            result = decoder.decode_accounts(record.value)
        assert not result.rejections
        events += result.events
    return events


# -- pushing events --------------------------------------------------------------------------------


def test_a_valid_batch_is_sent_grouped_by_key_and_answered_202(setup: Setup) -> None:
    items = [payment(i) for i in range(40)]

    async def scenario(client: Client) -> None:
        response = await client.post("/v1/payments", json=items, headers=setup.auth())
        assert response.status == 202, await response.text()
        assert await response.json() == {"accepted": 40, "records": 2}

    setup.run(scenario)
    records = setup.publisher.records
    assert {r.topic for r in records} == {TOPICS.events}
    assert sorted(r.key for r in records) == [b"utility:electricity", b"utility:water"]
    assert all(json.loads(r.value)[0]["segment"] in r.key.decode() for r in records)
    assert sum(r.events for r in records) == 40
    events = decoded(records)
    assert sorted(e.event_id for e in events) == sorted(f"p-{i}" for i in range(40))
    anonymiser = Anonymiser(KEY)
    for event in events:
        assert isinstance(event, PaymentEvent)
        assert event.payer == anonymiser.pseudonym(phone_number(int(event.event_id[2:])))
    raw = b"".join(r.value for r in records)
    for i in range(40):
        for value in (phone_number(i), full_name(i), card_number(i), citizen_id(i)):
            assert value.encode() not in raw
    assert setup.sample("cashless_gateway_events_accepted_total", {"kind": "payments"}) == 40
    assert setup.sample("cashless_gateway_records_sent_total", {"kind": "payments"}) == 2
    assert setup.publisher.timeouts == [setup.gateway.settings.send_timeout_seconds]
    assert setup.publisher.started
    assert setup.publisher.stopped


def test_a_single_object_is_a_batch_of_one(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        response = await client.post("/v1/payments", json=payment(1), headers=setup.auth())
        assert response.status == 202
        assert await response.json() == {"accepted": 1, "records": 1}

    setup.run(scenario)
    assert json.loads(setup.publisher.records[0].value)["event_id"] == "p-1", "one event, an object"


def test_accounts_are_keyed_by_the_holder_pseudonym(setup: Setup) -> None:
    items = [account(i) for i in range(3)] + [account(0, event_id="a-0-closed", type="closed")]

    async def scenario(client: Client) -> None:
        response = await client.post("/v1/accounts", json=items, headers=setup.auth(setup.momo))
        assert response.status == 202, await response.text()
        assert (await response.json())["accepted"] == 4

    setup.run(scenario)
    records = setup.publisher.records
    assert {r.topic for r in records} == {TOPICS.accounts}
    assert len(records) == 3, "the two events of holder 0 share one record"
    for record in records:
        assert is_pseudonym(record.key.decode())
        events = decoded([record])
        assert all(isinstance(e, AccountEvent) and e.holder == record.key.decode() for e in events)
    assert setup.sample("cashless_gateway_events_accepted_total", {"kind": "accounts"}) == 4


def test_one_invalid_item_refuses_the_whole_request(setup: Setup) -> None:
    items = [
        payment(0),
        payment(1, district="atlantis"),
        payment(2),
        {k: v for k, v in payment(3).items() if k != "amount_vnd"},
        "not an object",
        payment(5, method="barter"),
        payment(6, occurred_at="2099-01-01T00:00:00+07:00"),
        payment(7, segment="dong-xuan"),
        account(8, source="hawaco"),
    ]

    async def scenario(client: Client) -> None:
        response = await client.post("/v1/payments", json=items, headers=setup.auth())
        assert response.status == 422
        body = await response.json()
        assert body["error"] == "invalid_items"
        assert "nothing" in body["message"]
        assert [(e["index"], e["reason"]) for e in body["errors"]] == [
            (1, "unknown_district"),
            (3, "missing_field:amount_vnd"),
            (4, "not_an_object"),
            (5, "unknown_method"),
            (6, "future_timestamp"),
            (7, "unknown_segment"),
            (8, "missing_field:channel"),
        ]
        assert all(e["detail"] for e in body["errors"])

    setup.run(scenario)
    assert setup.publisher.records == [], "all or nothing"
    assert setup.publisher.timeouts == []
    labels = {"kind": "payments", "reason": "missing_field"}
    assert setup.sample("cashless_gateway_items_rejected_total", labels) == 2
    assert setup.sample("cashless_gateway_events_accepted_total", {"kind": "payments"}) == 0


def test_a_token_sends_only_for_its_own_source(setup: Setup) -> None:
    items = [payment(0), payment(1, source="evn-hanoi"), payment(2, source="momo")]

    async def scenario(client: Client) -> None:
        response = await client.post("/v1/payments", json=items, headers=setup.auth())
        assert response.status == 422
        errors = (await response.json())["errors"]
        assert [(e["index"], e["reason"]) for e in errors] == [
            (1, "source_mismatch"),
            (2, "source_mismatch"),
        ]
        assert "hawaco" in errors[0]["detail"]
        other = await client.post("/v1/payments", json=[payment(3)], headers=setup.auth(setup.momo))
        assert other.status == 422

    setup.run(scenario)
    assert setup.publisher.records == []


def test_the_error_detail_never_echoes_personal_data(setup: Setup) -> None:
    bad = payment(1, district=phone_number(1), segment=full_name(1))

    async def scenario(client: Client) -> None:
        response = await client.post("/v1/payments", json=[bad], headers=setup.auth())
        assert response.status == 422
        text = await response.text()
        assert phone_number(1) not in text
        assert citizen_id(1) not in text

    setup.run(scenario)


# -- authentication --------------------------------------------------------------------------------


def test_missing_and_wrong_tokens_are_401(setup: Setup) -> None:
    prefix, token_id, secret = setup.hawaco.split("_", 2)

    async def scenario(client: Client) -> None:
        missing = await client.post("/v1/payments", json=[payment(0)])
        assert missing.status == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await missing.json())["error"] == "missing_token"
        for header in (
            f"Bearer {prefix}_{token_id}_{secret[::-1]}",
            f"Basic {setup.hawaco}",
            "Bearer",
            f"bearer{setup.hawaco}",
        ):
            wrong = await client.post(
                "/v1/payments", json=[payment(0)], headers={"Authorization": header}
            )
            assert wrong.status == 401, header
            assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        lower = await client.post(
            "/v1/payments", json=[payment(0)], headers={"Authorization": f"bearer {setup.hawaco}"}
        )
        assert lower.status == 202, "the scheme is case-insensitive"

    setup.run(scenario)
    assert len(setup.publisher.records) == 1


def test_a_revoked_token_is_refused_at_the_next_request(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        ok = await client.post("/v1/payments", json=[payment(0)], headers=setup.auth())
        assert ok.status == 202
        setup.tokens.revoke(source="hawaco")
        revoked = await client.post("/v1/payments", json=[payment(1)], headers=setup.auth())
        assert revoked.status == 401
        _, fresh = setup.tokens.add("hawaco")
        again = await client.post("/v1/payments", json=[payment(2)], headers=setup.auth(fresh))
        assert again.status == 202

    setup.run(scenario)


def test_an_expired_token_is_refused_like_a_revoked_one(setup: Setup) -> None:
    now = datetime.now(UTC)
    _, expired = setup.tokens.add(
        "hawaco", now=now - timedelta(days=31), expires_in=timedelta(days=30)
    )
    _, current = setup.tokens.add("hawaco", now=now, expires_in=timedelta(hours=1))

    async def scenario(client: Client) -> None:
        refused = await client.post("/v1/payments", json=[payment(0)], headers=setup.auth(expired))
        assert refused.status == 401
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
        body = await refused.json()
        assert body["error"] == "invalid_token"
        assert "expired" in body["message"]
        ok = await client.post("/v1/payments", json=[payment(1)], headers=setup.auth(current))
        assert ok.status == 202

    setup.run(scenario)
    assert [e.event_id for e in decoded(setup.publisher.records)] == ["p-1"]
    labels = {"endpoint": "payments", "status": "401"}
    assert setup.sample("cashless_gateway_requests_total", labels) == 1


# -- limits and malformed bodies -------------------------------------------------------------------


def test_a_token_over_its_rate_is_429_with_retry_after(tmp_path: Path) -> None:
    now = [100.0]
    setup = make_setup(
        tmp_path, monotonic=lambda: now[0], rate_limit_per_second=0.5, rate_limit_burst=3
    )

    async def scenario(client: Client) -> None:
        for i in range(3):
            ok = await client.post("/v1/payments", json=[payment(i)], headers=setup.auth())
            assert ok.status == 202
        limited = await client.post("/v1/payments", json=[payment(3)], headers=setup.auth())
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "2", "one request refills in 2 s at 0.5/s"
        body = await limited.json()
        assert body["error"] == "rate_limited"
        assert "0.5 requests/s" in body["message"]
        # A refused request costs the client nothing more: the wait does not grow.
        again = await client.post("/v1/accounts", json=[account(0)], headers=setup.auth())
        assert again.status == 429
        assert again.headers["Retry-After"] == "2"
        # Another token has its own budget; an unauthenticated request is 401, not 429.
        other = await client.post("/v1/accounts", json=[account(1)], headers=setup.auth(setup.momo))
        assert other.status == 202
        assert (await client.post("/v1/payments", json=[payment(9)])).status == 401
        now[0] += 2.0
        later = await client.post("/v1/payments", json=[payment(4)], headers=setup.auth())
        assert later.status == 202

    setup.run(scenario)
    sent = sorted(e.event_id for e in decoded(setup.publisher.records))
    assert sent == ["a-1", "p-0", "p-1", "p-2", "p-4"], "nothing of a limited request"
    assert setup.sample("cashless_gateway_rate_limited_total", {"kind": "payments"}) == 1
    assert setup.sample("cashless_gateway_rate_limited_total", {"kind": "accounts"}) == 1
    labels = {"endpoint": "payments", "status": "429"}
    assert setup.sample("cashless_gateway_requests_total", labels) == 1


def test_the_default_rate_limit_leaves_room_for_the_benchmark(setup: Setup) -> None:
    """20,000 events/s in batches of 500 is 40 requests/s from one token: never limited."""
    settings = setup.gateway.settings
    assert settings.rate_limit_per_second >= 2 * 40
    assert settings.rate_limit_burst >= settings.rate_limit_per_second

    async def scenario(client: Client) -> None:
        body = json.dumps([payment(i) for i in range(500)])
        headers = {**setup.auth(), "Content-Type": "application/json"}
        statuses = await asyncio.gather(
            *(client.post("/v1/payments", data=body, headers=headers) for _ in range(80))
        )
        assert [r.status for r in statuses] == [202] * 80

    setup.run(scenario)


def test_an_endless_chunked_body_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    """A client streaming without Content-Length is answered 413 once it passes the limit, and
    the gateway stops reading: it does not take in the whole stream first."""
    setup = make_setup(tmp_path, max_body_bytes=65_536)

    async def scenario(client: Client) -> None:
        host, port = client._base_url.host, client._base_url.port  # type: ignore[union-attr]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            (
                "POST /v1/payments HTTP/1.1\r\n"
                f"Host: {host}\r\n"
                f"Authorization: Bearer {setup.hawaco}\r\n"
                "Content-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = b"%x\r\n%s\r\n" % (16_384, b" " * 16_384)
        sent = 0
        response = asyncio.create_task(reader.read(65_536))
        async with asyncio.timeout(30):
            while not response.done() and sent < 1_073_741_824:
                writer.write(chunk)
                sent += 16_384
                drain = asyncio.ensure_future(writer.drain())
                await asyncio.wait({drain, response}, return_when=asyncio.FIRST_COMPLETED)
                if not drain.done():  # the gateway stopped reading and answered
                    drain.cancel()
                    break
                if drain.exception() is not None:  # it closed the connection
                    break
        head = await asyncio.wait_for(response, 10)
        writer.transport.abort()
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        assert b"body_too_large" in head
        # Socket buffers hold some megabytes; the gigabyte was never read.
        assert sent < 64 * 1_048_576, sent

    setup.run(scenario)
    assert setup.publisher.records == []


def test_a_body_sent_too_slowly_is_408_and_the_connection_closed(tmp_path: Path) -> None:
    """A client that sends its head and then dribbles the body does not hold the gateway: after
    the client timeout it is answered 408, nothing is sent, and the connection is closed."""
    setup = make_setup(tmp_path, client_timeout_seconds=0.5)

    async def scenario(client: Client) -> None:
        host, port = client._base_url.host, client._base_url.port  # type: ignore[union-attr]
        reader, writer = await asyncio.open_connection(host, port)
        body = msgspec.json.encode([payment(0)])
        writer.write(
            (
                "POST /v1/payments HTTP/1.1\r\n"
                f"Host: {host}\r\n"
                f"Authorization: Bearer {setup.hawaco}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[:10]
        )
        started = time.monotonic()
        async with asyncio.timeout(10):
            answer = await reader.read()  # to the end: the gateway closes the connection
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"body_timeout" in answer
        assert time.monotonic() - started >= 0.5

    setup.run(scenario)
    assert setup.publisher.records == []
    labels = {"endpoint": "payments", "status": "408"}
    assert setup.sample("cashless_gateway_requests_total", labels) == 1


def test_a_request_head_sent_too_slowly_is_cut_off(tmp_path: Path) -> None:
    """Slow headers (slowloris): a connection that has not sent a whole request head within
    the client timeout is closed, without an answer."""
    setup = make_setup(tmp_path, client_timeout_seconds=0.5)

    async def scenario(client: Client) -> None:
        host, port = client._base_url.host, client._base_url.port  # type: ignore[union-attr]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST /v1/payments HTTP/1.1\r\nHost: {host}\r\n".encode())
        started = time.monotonic()
        answer = asyncio.create_task(reader.read())  # to the end of the connection
        async with asyncio.timeout(10):
            while not answer.done():
                writer.write(b"X-Slow: 1\r\n")  # a header line now and then, never the end
                await asyncio.wait({answer}, timeout=0.1)
        writer.close()
        assert answer.result() == b""
        assert time.monotonic() - started >= 0.5

    setup.run(scenario)
    assert setup.publisher.records == []


def test_limits_are_413(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, max_batch=10, max_body_bytes=4096)

    async def scenario(client: Client) -> None:
        body = json.dumps([payment(i) for i in range(20)])
        assert len(body) > 4096
        big = await client.post(
            "/v1/payments", data=body, headers={**setup.auth(), "Content-Type": "application/json"}
        )
        assert big.status == 413
        assert (await big.json())["error"] == "body_too_large"
        few = [{"schema": 1}] * 11
        count = await client.post("/v1/payments", json=few, headers=setup.auth())
        assert count.status == 413
        body_json = await count.json()
        assert body_json["error"] == "too_many_items"
        assert "at most 10" in body_json["message"]

        async def chunks() -> Any:  # no Content-Length: the limit holds while reading
            for _ in range(10):
                yield b" " * 1000
            yield b"[]"

        streamed = await client.post(
            "/v1/payments",
            data=chunks(),
            headers={**setup.auth(), "Content-Type": "application/json"},
        )
        assert streamed.status == 413
        assert (await streamed.json())["error"] == "body_too_large"
        sent = streamed.request_info.headers
        assert "Content-Length" not in sent
        assert sent["Transfer-Encoding"] == "chunked"
        fits = await client.post("/v1/payments", json=[payment(0)] * 3, headers=setup.auth())
        assert fits.status == 202

    setup.run(scenario)
    assert sum(r.events for r in setup.publisher.records) == 3


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "bad_json"),
        (b"[{", "bad_json"),
        (b'["\xff\xfe"]', "bad_utf8"),
        (b"42", "not_an_array_or_object"),
        (b'"x"', "not_an_array_or_object"),
        (b"[]", "empty_batch"),
    ],
)
def test_a_malformed_body_is_400(setup: Setup, body: bytes, error: str) -> None:
    async def scenario(client: Client) -> None:
        response = await client.post(
            "/v1/payments", data=body, headers={**setup.auth(), "Content-Type": "application/json"}
        )
        assert response.status == 400
        assert (await response.json())["error"] == error

    setup.run(scenario)


def test_deep_nesting_is_a_client_error_not_a_crash(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        for depth in (200, 950, 5000):
            body = b'[{"schema": 1, "x": ' + b'{"x":' * depth + b"1" + b"}" * depth + b"}]"
            response = await client.post(
                "/v1/payments",
                data=body,
                headers={**setup.auth(), "Content-Type": "application/json"},
            )
            assert response.status in (400, 422), depth
        deep = b"[" + b"[" * 5000 + b"]" * 5000 + b"]"
        response = await client.post(
            "/v1/payments", data=deep, headers={**setup.auth(), "Content-Type": "application/json"}
        )
        assert response.status == 400
        assert (await response.json())["error"] == "too_deeply_nested"

    setup.run(scenario)
    assert setup.publisher.records == []


def test_content_type_must_be_json_when_given(setup: Setup) -> None:
    body = json.dumps([payment(0)])

    async def scenario(client: Client) -> None:
        form = await client.post(
            "/v1/payments",
            data=body,
            headers={**setup.auth(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status == 415
        for content_type in ("application/json; charset=utf-8", "application/vnd.x+json"):
            ok = await client.post(
                "/v1/payments", data=body, headers={**setup.auth(), "Content-Type": content_type}
            )
            assert ok.status == 202, content_type

    setup.run(scenario)


def test_unknown_routes_and_methods_answer_json(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        missing = await client.get("/v1/payments/0912345678")
        assert missing.status == 404
        assert (await missing.json())["error"] == "not_found"
        wrong = await client.get("/v1/payments")
        assert wrong.status == 405
        assert "POST" in wrong.headers["Allow"]

    setup.run(scenario)


# -- Kafka unavailable -----------------------------------------------------------------------------


def test_kafka_down_is_503_with_retry_after_never_202(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        setup.publisher.ready = False
        down = await client.post("/v1/payments", json=[payment(0)], headers=setup.auth())
        assert down.status == 503
        assert down.headers["Retry-After"] == "5"
        body = await down.json()
        assert body["error"] == "kafka_unavailable"
        assert "10.9.8.7" not in body["message"], "internal addresses are logged, not told"
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert "Retry-After" in ready.headers
        bad = await client.post(
            "/v1/payments", json=[payment(1, district="x")], headers=setup.auth()
        )
        assert bad.status == 422, "an invalid batch is told so even during an outage"
        setup.publisher.ready = True
        setup.publisher.fail = True
        failed = await client.post("/v1/payments", json=[payment(2)], headers=setup.auth())
        assert failed.status == 503
        setup.publisher.fail = False
        assert (await client.get("/readyz")).status == 200
        ok = await client.post("/v1/payments", json=[payment(0)], headers=setup.auth())
        assert ok.status == 202

    setup.run(scenario)
    assert [e.event_id for e in decoded(setup.publisher.records)] == ["p-0"]
    assert setup.sample("cashless_gateway_events_unavailable_total", {"kind": "payments"}) == 2
    assert setup.sample("cashless_gateway_events_accepted_total", {"kind": "payments"}) == 1
    labels = {"endpoint": "payments", "status": "503"}
    assert setup.sample("cashless_gateway_requests_total", labels) == 2


# -- probes, metrics, OpenAPI, logs ----------------------------------------------------------------


def test_health_metrics_and_openapi(setup: Setup) -> None:
    async def scenario(client: Client) -> None:
        health = await client.get("/healthz")
        assert health.status == 200
        assert (await client.get("/readyz")).status == 200
        await client.post("/v1/payments", json=[payment(0)], headers=setup.auth())
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        assert metrics.content_type == "text/plain"
        text = await metrics.text()
        assert 'cashless_gateway_events_accepted_total{kind="payments"} 1.0' in text
        assert 'cashless_gateway_requests_total{endpoint="payments",status="202"} 1.0' in text
        assert "cashless_gateway_kafka_ready 1.0" in text
        assert 'cashless_gateway_events_accepted_total{kind="accounts"} 0.0' in text
        document = await (await client.get("/openapi.json")).json()
        assert document["paths"]["/v1/payments"]["post"]["responses"]["422"]

    setup.run(scenario)


def test_the_openapi_document_is_valid_and_matches_the_limits() -> None:
    settings = GatewaySettings(max_batch=123)
    document = openapi_document(settings, load_taxonomy())
    validate_openapi(document)
    schemas = document["components"]["schemas"]
    body = document["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"][1]["maxItems"] == 123
    resolver_root = {"components": document["components"]}

    def valid(schema_name: str, instance: object) -> bool:
        schema = {**schemas[schema_name], "components": resolver_root["components"]}
        try:
            jsonschema.validate(instance, schema)
        except jsonschema.ValidationError:
            return False
        return True

    assert valid("PaymentInput", payment(0))
    assert valid("AccountInput", account(0))
    assert not valid("PaymentInput", payment(0, district="atlantis"))
    assert not valid("PaymentInput", payment(0, amount_vnd=0))
    assert not valid("AccountInput", account(0, type="frozen"))
    for code in ("202", "400", "401", "413", "415", "422", "429", "503"):
        assert code in document["paths"]["/v1/accounts"]["post"]["responses"]


def test_access_log_has_no_tokens_or_payloads(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    items = [payment(i) for i in range(3)]

    async def scenario(client: Client) -> None:
        await client.post("/v1/payments", json=items, headers=setup.auth())
        await client.post("/v1/payments", json=[payment(9, district="x")], headers=setup.auth())
        await client.post("/v1/payments", json=items, headers={"Authorization": "Bearer nope"})
        await client.get("/v1/payments/" + phone_number(1))

    with caplog.at_level(logging.INFO):
        setup.run(scenario)
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "producers.gateway.access"
    ]
    assert [(x["status"], x["source"], x["items"]) for x in lines] == [
        (202, "hawaco", 3),
        (422, "hawaco", 1),
        (401, None, None),
        (404, None, None),
    ]
    assert lines[1]["error"] == "invalid_items"
    assert all(x["method"] and x["duration_ms"] >= 0 for x in lines)
    assert lines[3]["path"] == "other"
    text = caplog.text
    assert setup.hawaco not in text
    assert setup.hawaco.split("_", 2)[2] not in text
    for i in (0, 1, 2, 9):
        for value in (phone_number(i), full_name(i), card_number(i), citizen_id(i), f"p-{i}"):
            assert value not in text


# -- records ---------------------------------------------------------------------------------------


def test_records_respect_the_event_and_byte_limits() -> None:
    decoder = EventDecoder(load_taxonomy(), clock=lambda: NOW)
    anonymiser = Anonymiser(KEY)
    raw = msgspec.json.encode([anonymiser.anonymise(payment(i * 2)) for i in range(50)])
    events = decoder.decode_payments(raw).events
    assert len(events) == 50
    by_count = build_records(events, TOPICS, events_per_record=20)
    assert [r.events for r in by_count] == [20, 20, 10]
    by_bytes = build_records(events, TOPICS, events_per_record=500, max_record_bytes=4096)
    assert all(len(r.value) <= 4096 for r in by_bytes)
    assert sum(r.events for r in by_bytes) == 50
    assert len({r.key for r in by_bytes}) == 1
    again = [e for r in by_bytes for e in decoder.decode_payments(r.value).events]
    assert again == events, "order within a key is kept"


# -- the publisher and the command without a broker ------------------------------------------------


def test_the_kafka_publisher_refuses_at_once_while_kafka_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = _closed_port()
    settings = GatewaySettings(probe_interval_seconds=0.05, connect_timeout_seconds=2)
    publisher = KafkaPublisher(
        KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed}"), settings, TOPICS
    )
    record = OutRecord(TOPICS.events, b"k", b"{}", 1)

    async def scenario() -> None:
        await publisher.start()
        await asyncio.sleep(0.3)
        assert not publisher.ready
        with pytest.raises(PublishError, match="cannot connect"):
            await publisher.publish([record], timeout=5)
        await publisher.stop()

    with caplog.at_level(logging.WARNING, logger="producers.gateway"):
        asyncio.run(scenario())
    outages = [r for r in caplog.records if "answering 503" in r.getMessage()]
    assert len(outages) == 1, "one log line per outage, not one per attempt"


def test_serve_refuses_to_start_without_tokens_or_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.delenv("CASHLESS_PSEUDONYM_KEY", raising=False)
    tokens = tmp_path / "tokens.json"
    no_key = runner.invoke(cli, ["gateway", "--tokens-file", str(tokens)])
    assert no_key.exit_code == 2  # a missing setting: usage
    assert "CASHLESS_PSEUDONYM_KEY" in no_key.stderr
    monkeypatch.setenv("CASHLESS_PSEUDONYM_KEY", KEY.decode())
    no_tokens = runner.invoke(cli, ["gateway", "serve", "--tokens-file", str(tokens)])
    assert no_tokens.exit_code == 1
    assert "no gateway tokens" in no_tokens.stderr
    assert "cashless gateway token add" in no_tokens.stderr
    assert "Traceback" not in no_tokens.output


def test_serve_says_clearly_when_the_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASHLESS_PSEUDONYM_KEY", KEY.decode())
    tokens = tmp_path / "tokens.json"
    TokenStore(tokens).add("hawaco")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            [
                "gateway",
                "--tokens-file",
                str(tokens),
                "--port",
                str(port),
                "--bootstrap-servers",
                f"127.0.0.1:{_closed_port()}",
            ],
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- TLS -------------------------------------------------------------------------------------------


def test_with_a_certificate_the_gateway_serves_https_only(tmp_path: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    setup = make_setup(tmp_path, tls_cert=tls.cert, tls_key=tls.key)

    async def scenario(client: Client) -> None:
        ok = await client.post("/v1/payments", json=[payment(0)], headers=setup.auth())
        assert ok.status == 202
        assert ok.url.scheme == "https"
        url = str(ok.url.origin())
        async with aiohttp.ClientSession() as untrusting:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await untrusting.get(f"{url}/healthz")
        plain = url.replace("https://", "http://")
        async with aiohttp.ClientSession() as other:
            with pytest.raises(aiohttp.ClientError):
                await other.post(plain + "/v1/payments", json=[payment(1)], headers=setup.auth())

    setup.run(scenario, trust=tls.client_context())
    assert [e.event_id for e in decoded(setup.publisher.records)] == ["p-0"]


def test_tls_needs_both_files_and_says_clearly_when_they_are_bad(tmp_path: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    with pytest.raises(ValueError, match="both tls_cert and tls_key"):
        GatewaySettings(tls_cert=tls.cert)
    with pytest.raises(ConfigError, match="both tls_cert and tls_key"):
        settings_from(GatewaySettings, tls_key=tls.key)
    other = self_signed(tmp_path / "other", "other")
    with pytest.raises(GatewayError, match="cannot load the TLS certificate"):
        GatewaySettings(tls_cert=tls.cert, tls_key=other.key).ssl_context()
    with pytest.raises(GatewayError, match="cannot load the TLS certificate"):
        GatewaySettings(tls_cert=tmp_path / "none.crt", tls_key=tls.key).ssl_context()
    context = GatewaySettings(tls_cert=tls.cert, tls_key=tls.key).ssl_context()
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert GatewaySettings().ssl_context() is None


def test_the_openapi_examples_are_what_the_gateway_takes_and_answers(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    document = openapi_document(setup.gateway.settings, load_taxonomy())
    assert document["servers"][0]["url"] == f"http://127.0.0.1:{setup.gateway.settings.port}"
    tls = GatewaySettings(
        host="0.0.0.0", port=8443, tls_cert=tmp_path / "c", tls_key=tmp_path / "k"
    )
    assert openapi_document(tls, load_taxonomy())["servers"][0]["url"] == "https://0.0.0.0:8443"
    answers: dict[tuple[str, str], Any] = {}

    async def scenario(client: Client) -> None:
        for kind, token in (("payments", setup.hawaco), ("accounts", setup.momo)):
            post = document["paths"][f"/v1/{kind}"]["post"]
            [batch] = post["requestBody"]["content"]["application/json"]["examples"].values()
            accepted = await client.post(
                f"/v1/{kind}", json=batch["value"], headers=setup.auth(token)
            )
            answers[kind, "202"] = (accepted.status, await accepted.json())
            field_name = "method" if kind == "payments" else "type"
            bad = dict(batch["value"][0], event_id="x-2", **{field_name: "cheque"})
            refused = await client.post(
                f"/v1/{kind}", json=[batch["value"][0], bad], headers=setup.auth(token)
            )
            answers[kind, "422"] = (refused.status, await refused.json())

    setup.run(scenario)
    for kind in ("payments", "accounts"):
        responses = document["paths"][f"/v1/{kind}"]["post"]["responses"]
        for code in ("202", "422"):
            example = responses[code]["content"]["application/json"]["example"]
            assert answers[kind, code] == (int(code), example), (kind, code)
