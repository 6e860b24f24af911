"""The gateway's OpenAPI document fuzzed with schemathesis, against the real gateway and Kafka.

Every operation of `/openapi.json` gets requests generated from the document (positive: bodies
that match it; negative: bodies, headers and media types that break it), sent three ways: with
a valid bearer token, with none, and with an unknown one. Every response must pass
schemathesis' checks (no 5xx, a documented status code, content type, headers and body schema,
bad input refused, auth not ignored), every request must be answered within the timeout, and
every event answered 202 must be in Kafka.

`CASHLESS_FUZZ_API_EXAMPLES=N` gives each (operation, mode, credentials) N examples instead of
the default (`make fuzz`); the test prints how many requests it sent.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis import APIOperation, Case, CheckFunction, GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import RunningStack, wait_for
from tests.integration.test_gateway import add_token, gateway, prefix
from tests.integration.test_replay import read_all
from tests.replay_data import account_record
from tests.unit.test_parser_fuzz import REASONS

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("CASHLESS_FUZZ_API_EXAMPLES") or 0)
DEFAULT_EXAMPLES = 12
REQUEST_TIMEOUT = 20.0
SOURCE = "hawaco"
# A body that matches the document can still be refused with the documented 422: the document
# cannot say which segments belong to which channel, that `source` must be the token's, that a
# time must not be in the future, or (JSON Schema counts 5.0 as an integer) that a number
# must be written without a fraction. Every other default check runs.
EXCLUDED = [cast(CheckFunction, positive_data_acceptance)]
# The gateway counts 422 items by reason family: the decoder's, and its own source_mismatch.
REASON_FAMILIES = {reason.split(":")[0] for reason in REASONS} | {"source_mismatch"}
DOCUMENTED = {"200", "202", "400", "401", "404", "405", "413", "415", "422", "429", "503"}


def _own_source(case: Case[Any]) -> Case[Any]:
    """Give generated events the token's source, so that their other fields decide the answer.

    Only a `source` the document allows is replaced: in a negative case an invalid one may be
    the very part that breaks the document, and must stay broken.
    """
    items: list[Any] = case.body if isinstance(case.body, list) else [case.body]
    for item in items:
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        if isinstance(source, str) and re.fullmatch(r"[a-z0-9-]{1,64}", source):
            item["source"] = SOURCE
    return case


class Tally:
    """What the fuzzing sent and got back."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.per_operation: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.slowest = 0.0

    def record(self, operation: str, response: Any, elapsed: float) -> None:
        self.statuses[response.status_code] += 1
        self.per_operation[operation] += 1
        self.slowest = max(self.slowest, elapsed)
        if response.status_code == 202:
            self.accepted[operation] += response.json()["accepted"]


def fuzz_operation(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    headers: dict[str, str],
    url: str,
    tally: Tally,
) -> None:
    """Send `EXAMPLES` generated requests to one operation and validate every response."""
    strategy = operation.as_strategy(generation_mode=mode)
    if "Authorization" in headers:
        strategy = strategy.map(_own_source)

    @settings(
        max_examples=EXAMPLES or DEFAULT_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case: Case[Any]) -> None:
        started = time.monotonic()
        response = case.call(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT)
        tally.record(operation.label, response, time.monotonic() - started)
        case.validate_response(
            response,
            headers=headers,
            transport_kwargs={"base_url": url},
            excluded_checks=EXCLUDED,
        )

    run()


def test_openapi_fuzzing_finds_no_5xx_no_hang_no_schema_mismatch(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    token = add_token(tokens, SOURCE)
    topic_prefix = prefix()
    tally = Tally()
    started = time.monotonic()
    with gateway(
        running_stack.bootstrap, topic_prefix, tokens, tmp_path, "--max-body-bytes", "262144"
    ) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        schema = schemathesis.openapi.from_url(f"{gw.url}/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
        # schemathesis leaves out the document's own operation (GET /openapi.json).
        assert {op.label for op in operations} >= {
            "POST /v1/payments",
            "POST /v1/accounts",
            "GET /healthz",
            "GET /readyz",
            "GET /metrics",
        }
        credentials: dict[str, dict[str, str]] = {
            "valid token": {"Authorization": f"Bearer {token}"},
            "no token": {},
            "unknown token": {"Authorization": "Bearer " + "A" * 43},
        }
        for operation in operations:
            # Nothing to break in an operation without parameters or body: positive only.
            modes = [GenerationMode.POSITIVE]
            if len(operation.body):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                for headers in credentials.values():
                    fuzz_operation(operation, mode, headers, gw.url, tally)
        metrics = httpx.get(f"{gw.url}/metrics", timeout=10).text
        output = gw.output()
    elapsed = time.monotonic() - started

    assert tally.statuses[202] > 0, "some generated pushes went all the way to Kafka"
    assert tally.statuses[401] > 0
    assert not [s for s in tally.statuses if s >= 500 and s != 503]
    assert "Traceback" not in output
    assert token not in output
    got = read_all(running_stack.bootstrap, topic_prefix)
    assert len(got.payments) == tally.accepted["POST /v1/payments"], "202 means in Kafka"
    assert len(got.accounts) == tally.accepted["POST /v1/accounts"]
    assert_bounded_labels(metrics)
    print(
        f"\ngateway fuzz: {sum(tally.statuses.values())} requests in {elapsed:.0f} s, "
        f"statuses {dict(sorted(tally.statuses.items()))}, slowest answer {tally.slowest:.2f} s, "
        f"events accepted {dict(tally.accepted)}"
    )


def assert_bounded_labels(metrics: str) -> None:
    """Whatever was sent, the gateway's own series keep labels from small fixed sets."""
    allowed: dict[str, Callable[[str], bool]] = {
        "endpoint": lambda v: (
            v in {"payments", "accounts", "healthz", "readyz", "metrics", "openapi", "other"}
        ),
        "status": lambda v: v in DOCUMENTED,
        "kind": lambda v: v in {"payments", "accounts"},
        "reason": lambda v: v in REASON_FAMILIES,
        "le": lambda v: True,
    }
    for family in text_string_to_metric_families(metrics):
        if not family.name.startswith("cashless_gateway_"):
            continue
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert allowed[label](value), (sample.name, label, value)


# -- what fuzzing found, kept as regressions -------------------------------------------------------


def _send_truncated(url: str, token: str) -> None:
    """Announce a 1000-byte body, send 10 bytes of it, and hang up."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/payments HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
            b'[{"schema"'
        )


def test_found_by_fuzzing_a_client_leaving_mid_body_and_mistyped_identifiers(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    token = add_token(tokens, "momo")
    topic_prefix = prefix()
    holder = account_record(1, random.Random(1))
    with gateway(running_stack.bootstrap, topic_prefix, tokens, tmp_path) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        # A client that hangs up mid-body was answered (in the log and /metrics) as a 500 with
        # a traceback; it is a client error.
        _send_truncated(gw.url, token)
        wait_for(lambda: "incomplete_body" in gw.output(), timeout=30, what="the access log")
        # A list, an object or a boolean where the holder's identifier belongs was hashed into
        # a pseudonym and accepted, against the document (a string); a number is an identifier.
        refused = {}
        for name, value in {"list": [1], "object": {"id": "x"}, "boolean": True}.items():
            refused[name] = gw.push("accounts", {**holder, "holder": value}, token)
        payer_list = gw.push("payments", {"payer": ["0912345678"]}, token)
        number = gw.push("accounts", {**holder, "holder": 912345678}, token)
        metrics = httpx.get(f"{gw.url}/metrics", timeout=10).text
        output = gw.output()
    assert "Traceback" not in output
    assert 'status="500"' not in metrics
    assert '"status":400' in output
    for name, response in refused.items():
        assert response.status_code == 422, name
        assert response.json()["errors"][0]["reason"] == "invalid_field:holder", name
    assert payer_list.status_code == 422
    assert "invalid_field:payer" in {e["reason"] for e in payer_list.json()["errors"]}
    assert number.status_code == 202, number.text
    (stored,) = [event for _, event in read_all(running_stack.bootstrap, topic_prefix).accounts]
    assert stored.holder != "912345678"
    assert len(stored.holder) == 64
