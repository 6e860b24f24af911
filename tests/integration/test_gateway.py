"""`cashless gateway` against the real Kafka: 202 means in Kafka once, refusals send nothing,
an outage is a 503 that loses nothing, and no personal value reaches a topic or the log.

Each test starts the real command as a subprocess on a free port with its own topic prefix and
tokens file, pushes over HTTP, then reads the topics from the beginning to their end offsets.

The module is also the load generator used to measure the gateway (a second process):

    python -m tests.integration.test_gateway --url http://127.0.0.1:8080 --token TOKEN \\
        --requests 200 --batch 500 --concurrency 8

prints one JSON line: status counts, requests/s and events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cashless.anonymise import Anonymiser
from cashless.schema import PaymentEvent
from cashless.topics import Topics
from ops.stack import Stack
from ops.stack.ports import free_port
from tests.conftest import ROOT, RunningStack, stack_settings, wait_for
from tests.integration.test_replay import (
    assert_nothing_personal,
    personal_values,
    read_all,
    read_topic,
)
from tests.replay_data import (
    account_record,
    card_number,
    citizen_id,
    full_name,
    payment_record,
    phone_number,
)
from tests.tls import SelfSigned

pytestmark = pytest.mark.integration

KEY = "integration-gateway-key-0123456789"


def prefix() -> str:
    return f"g{uuid.uuid4().hex[:8]}."


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env["CASHLESS_PSEUDONYM_KEY"] = KEY
    return env


def cashless(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(str, args)],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def add_token(tokens: Path, source: str, *extra: str) -> str:
    done = cashless("gateway", "token", "add", source, "--tokens-file", tokens, *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Gateway:
    """A running `cashless gateway` subprocess and what it printed so far."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    verify: ssl.SSLContext | bool = True

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")

    def push(self, kind: str, items: Any, token: str | None, **headers: str) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(
            f"{self.url}/v1/{kind}", json=items, headers=headers, timeout=60, verify=self.verify
        )

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, verify=self.verify)

    def ready(self) -> bool:
        try:
            return self.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False


@contextmanager
def gateway(
    bootstrap: str,
    topic_prefix: str,
    tokens: Path,
    log_dir: Path,
    *extra: str,
    tls: SelfSigned | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Gateway]:
    """`cashless gateway` on a free port (HTTPS with `tls`), stopped with SIGTERM at the end."""
    port = free_port()
    if tls is not None:
        extra = (*extra, "--tls-cert", str(tls.cert), "--tls-key", str(tls.key))
    log = log_dir / f"gateway-{port}.log"
    command = [
        sys.executable,
        "-m",
        "cli",
        "gateway",
        "--port",
        str(port),
        "--bootstrap-servers",
        bootstrap,
        "--topic-prefix",
        topic_prefix,
        "--tokens-file",
        str(tokens),
        *extra,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**clean_env(), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if tls is None:
        running = Gateway(f"http://127.0.0.1:{port}", process, log)
    else:
        running = Gateway(f"https://127.0.0.1:{port}", process, log, tls.client_context())
    try:

        def alive() -> bool:
            assert process.poll() is None, running.output()
            try:
                return running.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(alive, timeout=60, what="the gateway to listen")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def payments(count: int, tag: str, source: str = "hawaco", seed: int = 1) -> list[dict[str, Any]]:
    """Raw payment exports of one source, personal data included, with unique event ids."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        record = payment_record(i, rng)
        record["source"] = source
        record["event_id"] = f"{tag}-{i}"
        out.append(record)
    return out


# -- the happy path --------------------------------------------------------------------------------


def test_accepted_batches_are_in_kafka_exactly_once(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco, board, momo = (add_token(tokens, s) for s in ("hawaco", "dong-xuan-board", "momo"))
    rng = random.Random(11)
    records = [payment_record(i, rng) for i in range(1200)]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    accounts = [account_record(i, rng) for i in range(300)]
    topic_prefix = prefix()
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        accepted = 0
        for source, token in (("hawaco", hawaco), ("dong-xuan-board", board)):
            items = by_source[source]
            for start in range(0, len(items), 500):
                response = gw.push("payments", items[start : start + 500], token)
                assert response.status_code == 202, response.text
                accepted += response.json()["accepted"]
        single = gw.push("accounts", accounts[0], momo)
        assert single.status_code == 202, single.text
        response = gw.push("accounts", accounts[1:], momo)
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == 299
        metrics = httpx.get(f"{gw.url}/metrics", timeout=10).text
        output = gw.output()
    assert accepted == 1200

    got = read_all(running_stack.bootstrap, topic_prefix)
    payment_ids = Counter(e.event_id for _, e in got.payments)
    account_ids = Counter(e.event_id for _, e in got.accounts)
    assert set(payment_ids) == {r["event_id"] for r in records}
    assert set(account_ids) == {r["event_id"] for r in accounts}
    assert max(payment_ids.values()) == 1, "each accepted event exactly once"
    assert max(account_ids.values()) == 1
    assert all(key == e.key.encode() for key, e in got.payments)
    assert all(key == e.holder.encode() for key, e in got.accounts)
    assert got.dead == [], "the gateway answers rejections; it writes nothing to the DLQ"
    anonymiser = Anonymiser(KEY.encode())
    payers = {r["event_id"]: anonymiser.pseudonym(r["payer"]) for r in records}
    assert all(e.payer == payers[e.event_id] for _, e in got.payments)
    assert 'cashless_gateway_events_accepted_total{kind="payments"} 1200.0' in metrics
    assert 'cashless_gateway_events_accepted_total{kind="accounts"} 300.0' in metrics
    assert '"status":202' in output
    personal = personal_values(records + accounts) | {citizen_id(i) for i in range(1200)}
    assert_nothing_personal([*got.raw, output.encode()], personal)


# -- refusals --------------------------------------------------------------------------------------


def test_refused_requests_send_nothing(running_stack: RunningStack, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    momo = add_token(tokens, "momo")
    topic_prefix = prefix()
    with gateway(
        running_stack.bootstrap,
        topic_prefix,
        tokens,
        tmp_path,
        "--max-batch",
        "50",
        "--max-body-bytes",
        "65536",
    ) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        good = payments(10, "ok")

        bad = [*good, {**good[0], "event_id": "bad-1", "district": "atlantis"}]
        invalid = gw.push("payments", bad, hawaco)
        assert invalid.status_code == 422
        assert invalid.json()["errors"] == [
            {
                "index": 10,
                "reason": "unknown_district",
                "detail": "district 'atlantis' is not in the taxonomy",
            }
        ]

        missing = gw.push("payments", good, None)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = gw.push("payments", good, hawaco[:-4] + "AAAA")
        assert wrong.status_code == 401

        other = gw.push("payments", good, momo)
        assert other.status_code == 422
        assert {e["reason"] for e in other.json()["errors"]} == {"source_mismatch"}

        oversize = gw.push("payments", payments(50, "big") * 4, hawaco)
        assert oversize.status_code == 413
        assert oversize.json()["error"] == "body_too_large"
        too_many = gw.push("payments", [{"schema": 1}] * 51, hawaco)
        assert too_many.status_code == 413
        assert too_many.json()["error"] == "too_many_items"

        revoked = cashless("gateway", "token", "revoke", "hawaco", "--tokens-file", tokens)
        assert revoked.returncode == 0, revoked.stderr
        after = gw.push("payments", good, hawaco)
        assert after.status_code == 401, "revocation takes effect without a restart"
        assert after.json()["error"] == "invalid_token"

        # A token issued with a lifetime works until it ends, then answers 401 like a revoked
        # one. An empty batch is a 400 for a valid token, so polling sends no events.
        short = add_token(tokens, "evn-hanoi", "--expires-in", "4s")
        assert gw.push("payments", [], short).json()["error"] == "empty_batch"
        wait_for(
            lambda: gw.push("payments", [], short).status_code == 401,
            timeout=15,
            what="the 4-second token to expire",
        )
        expired = gw.push("payments", payments(3, "late", source="evn-hanoi"), short)
        assert expired.status_code == 401
        assert expired.json()["error"] == "invalid_token"

        assert gw.push("accounts", [account_record(1, random.Random(1))], momo).status_code == 202
        output = gw.output()

    topics = Topics(topic_prefix)
    assert read_topic(running_stack.bootstrap, topics.events) == [], "nothing of a refused request"
    assert read_topic(running_stack.bootstrap, topics.dlq) == []
    assert len(read_topic(running_stack.bootstrap, topics.accounts)) == 1
    statuses = Counter(
        json.loads(line.split("producers.gateway.access: ", 1)[1])["status"]
        for line in output.splitlines()
        if "producers.gateway.access: " in line
    )
    assert statuses[401] == 5
    assert statuses[413] == 2
    assert statuses[422] == 2
    assert hawaco not in output
    assert momo not in output
    assert short not in output


# -- privacy ---------------------------------------------------------------------------------------


def test_personal_data_never_reaches_kafka_or_the_log(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    momo = add_token(tokens, "momo")
    people = range(200)
    items = []
    for i in people:
        items.append(
            {
                "schema": 1,
                "event_id": f"pv-{i}",
                "occurred_at": "2026-01-05T08:00:00+07:00",
                "source": "hawaco",
                "channel": "utility",
                "segment": "water",
                "district": "dong-da",
                "method": "bank_transfer",
                "amount_vnd": 150_000 + i,
                "payer": phone_number(i),
                "Họ tên": full_name(i),
                "ten_khach_hang": full_name(i),
                "so_dien_thoai": phone_number(i),
                "cccd": citizen_id(i),
                "card_number": card_number(i),
                "ghi_chu": f"{full_name(i)} SĐT {phone_number(i)} CCCD {citizen_id(i)}",
                "the": f"{card_number(i)[:4]} {card_number(i)[4:8]} {card_number(i)[8:12]} "
                f"{card_number(i)[12:]}",
            }
        )
    # An identifier where an event id belongs is replaced by its keyed pseudonym.
    items[0]["event_id"] = phone_number(0)
    holders = [
        {
            "schema": 1,
            "event_id": f"hv-{i}",
            "occurred_at": "2026-01-05T08:00:00+07:00",
            "source": "momo",
            "type": "opened",
            "holder": citizen_id(i),
            "district": "dong-da",
            "full_name": full_name(i),
            "phone": f"+84 {phone_number(i)[1:]}",
        }
        for i in people
    ]
    topic_prefix = prefix()
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        assert gw.push("payments", items, hawaco).status_code == 202
        assert gw.push("accounts", holders, momo).status_code == 202
        rejected = [{**items[1], "event_id": "pv-x", "district": "nowhere"}]
        assert gw.push("payments", rejected, hawaco).status_code == 422
        assert gw.push("payments", items[:3], None).status_code == 401
        output = gw.output()

    got = read_all(running_stack.bootstrap, topic_prefix)
    assert len(got.payments) == 200
    assert len(got.accounts) == 200
    assert all(e.payer is not None and len(e.payer) == 64 for _, e in got.payments)
    personal: set[str] = set()
    for i in people:
        number = card_number(i)
        personal |= {full_name(i), phone_number(i), citizen_id(i), number}
        personal |= {f"{number[:4]} {number[4:8]} {number[8:12]} {number[12:]}"}
    assert_nothing_personal([*got.raw, output.encode()], personal)


# -- an outage -------------------------------------------------------------------------------------


@dataclass
class Sender:
    """A client that keeps pushing new batches and re-sends each one until it gets a 202."""

    gw: Gateway
    token: str
    accepted: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            batch = 0
            while not self.stop.is_set():
                items = payments(25, f"out-{batch}", seed=batch)
                while True:
                    response = self.gw.push("payments", items, self.token)
                    self.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        self.accepted += [item["event_id"] for item in items]
                        break
                    assert response.status_code == 503, response.text
                    self.retry_after.add(response.headers["Retry-After"])
                    time.sleep(0.2)  # a real client waits Retry-After; the test cannot
                batch += 1
                time.sleep(0.05)
        except BaseException as exc:
            self.error = exc


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_kafka_outage_is_503_and_loses_nothing(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "stack")
    stack = Stack(settings)
    bootstrap = f"127.0.0.1:{settings.kafka_port}"
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    topic_prefix = prefix()
    try:
        stack.up()
        with gateway(bootstrap, topic_prefix, tokens, tmp_path, "--send-timeout", "3") as gw:
            wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
            before = payments(100, "before")
            assert gw.push("payments", before, hawaco).status_code == 202

            sender = Sender(gw, hawaco)
            thread = threading.Thread(target=sender.run, daemon=True)
            thread.start()
            wait_for(lambda: sender.statuses[202] >= 3, timeout=30, what="pushes before the outage")

            stack.down()
            wait_for(lambda: sender.statuses[503] >= 3, timeout=60, what="503s during the outage")
            assert not gw.ready()
            during = gw.push("payments", payments(10, "during"), hawaco)
            assert during.status_code == 503
            assert during.headers["Retry-After"] == "5"
            assert during.json()["error"] == "kafka_unavailable"

            # The broker closed its connections, so its port sits in TIME_WAIT for a while and
            # `stack up` (rightly) refuses a port it cannot bind; restart on the same port.
            wait_for(lambda: _port_free(settings.kafka_port), timeout=120, what="Kafka's port")
            stack.up()
            wait_for(gw.ready, timeout=60, what="the gateway to reconnect")
            accepted_before_recovery = len(sender.accepted)
            wait_for(
                lambda: len(sender.accepted) >= accepted_before_recovery + 75,
                timeout=60,
                what="pushes after the outage",
            )
            sender.stop.set()
            thread.join(timeout=60)
            assert sender.error is None, sender.error
            again = gw.push("payments", payments(10, "during"), hawaco)
            assert again.status_code == 202, "the batch refused during the outage, re-sent"
            output = gw.output()

        got = Counter(e.event_id for e in _events(bootstrap, topic_prefix))
        accepted = [r["event_id"] for r in before] + sender.accepted
        accepted += [f"during-{i}" for i in range(10)]
        missing = [event_id for event_id in accepted if event_id not in got]
        assert not missing, f"{len(missing)} of {len(accepted)} events answered 202 are missing"
        assert all(got[r["event_id"]] == 1 for r in before), "sent once before the outage"
        assert set(got) == set(accepted), "nothing that was never pushed"
        assert sender.statuses[503] >= 3
        assert sender.retry_after == {"5"}
        assert "answering 503 until Kafka is back" in output
        assert "is reachable: accepting events" in output
        duplicates = sum(count - 1 for count in got.values())
        print(
            f"\noutage: {len(accepted)} events accepted with 202, all in Kafka; "
            f"{sender.statuses[503]} pushes answered 503; {duplicates} duplicates from re-sends"
        )
    finally:
        stack.down(purge=True)


def _events(bootstrap: str, topic_prefix: str) -> list[PaymentEvent]:
    return [e for _, e in read_all(bootstrap, topic_prefix).payments]


# -- load ------------------------------------------------------------------------------------------


def test_concurrent_load_from_a_second_process(running_stack: RunningStack, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    topic_prefix = prefix()
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.test_gateway",
                "--url",
                gw.url,
                "--token",
                hawaco,
                "--requests",
                "40",
                "--batch",
                "500",
                "--concurrency",
                "8",
                "--tag",
                "load",
            ],
            cwd=ROOT,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    print(f"\nload: {result}")
    assert result["statuses"] == {"202": 40}
    got = Counter(e.event_id for e in _events(running_stack.bootstrap, topic_prefix))
    assert len(got) == 40 * 500
    assert max(got.values()) == 1


# -- the load generator ----------------------------------------------------------------------------


async def _load(
    url: str, token: str, source: str, requests: int, batch: int, concurrency: int, tag: str
) -> dict[str, Any]:
    bodies = [
        json.dumps(payments(batch, f"{tag}-{r}", source, seed=r), ensure_ascii=False).encode()
        for r in range(requests)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    todo = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            for r in todo:
                started = time.perf_counter()
                response = await client.post("/v1/payments", content=bodies[r], headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "requests": requests,
        "batch": batch,
        "concurrency": concurrency,
        "body_bytes": len(bodies[0]),
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 1),
        "events_per_s": round(statuses[202] * batch / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Push `--requests` batches of `--batch` raw payments with `--concurrency` connections."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--source", default="hawaco")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tag", default=f"load{uuid.uuid4().hex[:6]}")
    args = parser.parse_args(argv)
    result = asyncio.run(
        _load(
            args.url,
            args.token,
            args.source,
            args.requests,
            args.batch,
            args.concurrency,
            args.tag,
        )
    )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
