"""`cashless gateway` hardened, against the real Kafka: HTTPS with a self-signed certificate, and
per-token rate limits answered 429 and counted on /metrics.

Each test starts the real command as a subprocess on a free port with its own topic prefix and
tokens file (see `tests.integration.test_gateway.gateway`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningStack, wait_for
from tests.integration.test_gateway import (
    _events,
    add_token,
    gateway,
    payments,
    prefix,
)
from tests.tls import self_signed

pytestmark = pytest.mark.integration


def test_events_pushed_over_https_reach_kafka(running_stack: RunningStack, tmp_path: Path) -> None:
    tls = self_signed(tmp_path / "tls")
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    topic_prefix = prefix()
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path, tls=tls) as gw:
        assert gw.url.startswith("https://")
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        pushed = gw.push("payments", payments(20, "tls"), hawaco)
        assert pushed.status_code == 202, pushed.text
        assert pushed.json()["accepted"] == 20
        # A client that does not trust the certificate, or speaks plain HTTP, gets nothing.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{gw.url}/healthz", timeout=10)
        plain = gw.url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{plain}/v1/payments", json=payments(1, "plain"), timeout=10)
        output = gw.output()
    assert f"gateway listening on {gw.url}" in output
    assert hawaco not in output
    got = Counter(e.event_id for e in _events(running_stack.bootstrap, topic_prefix))
    assert got == Counter(f"tls-{i}" for i in range(20))


def test_a_token_over_its_rate_is_429_and_counted(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    momo = add_token(tokens, "momo")
    topic_prefix = prefix()
    limits = ("--rate-limit", "0.2", "--rate-burst", "3")
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path, *limits) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        statuses = [gw.push("payments", payments(5, f"r{i}"), hawaco) for i in range(6)]
        assert [r.status_code for r in statuses] == [202, 202, 202, 429, 429, 429]
        limited = statuses[3]
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 5
        other = gw.push("accounts", [], momo)
        assert other.status_code == 400, "another token's budget is untouched"
        metrics = gw.get("/metrics").text
        document = gw.get("/openapi.json").json()
    assert 'cashless_gateway_rate_limited_total{kind="payments"} 3.0' in metrics
    assert 'cashless_gateway_requests_total{endpoint="payments",status="429"} 3.0' in metrics
    responses = document["paths"]["/v1/payments"]["post"]["responses"]
    assert "0.2 requests/s" in responses["429"]["description"]
    assert "Retry-After" in responses["429"]["headers"]
    got = Counter(e.event_id for e in _events(running_stack.bootstrap, topic_prefix))
    assert got == Counter(f"r{i}-{j}" for i in range(3) for j in range(5)), "nothing of a 429"
