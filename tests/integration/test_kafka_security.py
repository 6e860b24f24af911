"""Every Kafka client of the project against a real broker that only speaks SASL or TLS: PLAIN
over plaintext, SCRAM-SHA-256 over TLS (with and without a client certificate), SCRAM-SHA-512
over plaintext, and TLS alone with a client certificate (`SSL`).

A second broker (`tests.kafka_secure`) is started for each on free ports. With the right
credentials the producers' sink, the gateway and the Faust worker produce and consume; with a
wrong password, none, or no client certificate they fail with a clear error. The password and
the client key never appear in a log or on `/metrics`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from kafka.errors import KafkaError
from pydantic import SecretStr

from cashless.anonymise import Anonymiser
from cashless.errors import CashlessError
from cashless.schema import EventDecoder, PaymentEvent
from cashless.settings import KafkaSettings
from cashless.taxonomy import load_taxonomy
from cashless.topics import Topics, ensure_topics
from ops.stack.ports import free_port
from producers.kafka_sink import KafkaEventSink
from tests.conftest import ROOT, wait_for
from tests.integration.test_gateway import KEY, add_token, clean_env, gateway, payments
from tests.integration.test_replay import read_topic
from tests.kafka_secure import Mechanism, SecureBroker, secure_broker

pytestmark = pytest.mark.integration


# PLAIN over plaintext, SCRAM-SHA-256 over TLS, SCRAM-SHA-512 over plaintext, SCRAM-SHA-256 over
# TLS with a client certificate required, and TLS alone with a client certificate required:
# (SASL mechanism or None, TLS, client certificate).
BROKERS: dict[str, tuple[Mechanism | None, bool, bool]] = {
    "plain": ("PLAIN", False, False),
    "scram-tls": ("SCRAM-SHA-256", True, False),
    "scram-512": ("SCRAM-SHA-512", False, False),
    "scram-mtls": ("SCRAM-SHA-256", True, True),
    "mtls": (None, True, True),
}
WITH_SASL = sorted(name for name, (mechanism, _, _) in BROKERS.items() if mechanism is not None)
WITH_CLIENT_CERTIFICATE = sorted(name for name, (_, _, needed) in BROKERS.items() if needed)


@pytest.fixture(scope="module", params=sorted(BROKERS))
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecureBroker]:
    directory = tmp_path_factory.mktemp("sasl")
    mechanism, tls, client_auth = BROKERS[request.param]
    started = secure_broker(directory, mechanism=mechanism, tls=tls, client_auth=client_auth)
    with started as running:
        yield running


def _prefix() -> str:
    return f"secure{uuid.uuid4().hex[:8]}."


def _events(count: int, tag: str) -> list[PaymentEvent]:
    anonymiser = Anonymiser(KEY.encode())
    raw = [anonymiser.anonymise(r) for r in payments(count, tag)]
    decoder = EventDecoder(load_taxonomy())
    result = decoder.decode_payments(msgspec.json.encode(raw))
    assert not result.rejections
    return list(result.events)


def assert_no_secret(broker: SecureBroker, *texts: str) -> None:
    for secret in broker.secrets:
        for text in texts:
            assert secret not in text


def _read_ids(broker: SecureBroker, topic_prefix: str) -> list[str]:
    decoder = EventDecoder(load_taxonomy())
    security = broker.settings().kafka_python_config()
    ids = []
    for record in read_topic(broker.bootstrap, Topics(topic_prefix).events, **security):
        ids += [e.event_id for e in decoder.decode_payments(record.value).events]
    return sorted(ids)


def test_the_sink_produces_and_a_consumer_reads_with_the_right_credentials(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    topic_prefix = _prefix()
    events = _events(40, "sink")
    with caplog.at_level(logging.DEBUG):
        with KafkaEventSink(broker.settings(topic_prefix=topic_prefix)) as sink:
            sink.send_events(events)
        got = _read_ids(broker, topic_prefix)
    assert got == sorted(e.event_id for e in events)
    # kafka-python warns of what crosses a plaintext connection: a PLAIN password, or the SCRAM
    # exchange (the user exists only as a SCRAM credential; no password crosses the wire).
    if broker.mechanism == "PLAIN":
        assert "Sending username and password in the clear" in caplog.text, "SASL PLAIN was used"
    elif broker.cafile is None:
        assert "Exchanging credentials in the clear" in caplog.text, "SCRAM was used"
        assert "Sending username and password" not in caplog.text, "not PLAIN"
    else:  # SCRAM over TLS, or TLS alone
        assert "in the clear" not in caplog.text, "credentials went over TLS"
    assert_no_secret(broker, caplog.text)  # not even at DEBUG


@pytest.mark.parametrize("broker", WITH_SASL, indirect=True)
def test_a_wrong_password_or_none_fails_clearly(
    broker: SecureBroker, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    with caplog.at_level(logging.DEBUG), pytest.raises(CashlessError) as refused:
        KafkaEventSink(broker.settings(password=wrong, topic_prefix=_prefix()))
    message = str(refused.value)
    # kafka-python's bootstrap only logs the broker's refusal and raises a bare timeout; the
    # sink names the refusal when kafka-python logged it during the attempt (some runs, not
    # all: see docs/RELIABILITY.md), and always names the broker it could not use.
    assert broker.bootstrap in message
    if "refused the client's credentials" in message:
        assert broker.refusal in message
        assert "CASHLESS_KAFKA_SASL_PASSWORD" in message
    else:
        assert "cannot reach Kafka" in message
    assert wrong not in message
    assert wrong not in caplog.text
    assert broker.password not in caplog.text
    # A client without credentials gets no topic and no data either.
    with pytest.raises(CashlessError, match="cannot reach Kafka"):
        ensure_topics(broker.bootstrap, Topics(_prefix()), bootstrap_timeout_ms=5000)
    with pytest.raises(KafkaError):
        read_topic(broker.bootstrap, "anything", timeout=5, **_bad(broker, wrong))


@pytest.mark.parametrize("broker", WITH_CLIENT_CERTIFICATE, indirect=True)
def test_a_broker_that_requires_a_client_certificate_refuses_a_client_without_one(
    broker: SecureBroker,
) -> None:
    assert broker.client_cert is not None
    without = broker.settings(
        kafka_ssl_certfile=None, kafka_ssl_keyfile=None, topic_prefix=_prefix()
    )
    with pytest.raises(CashlessError) as refused:
        KafkaEventSink(without)
    assert broker.bootstrap in str(refused.value)
    assert_no_secret(broker, str(refused.value))
    with pytest.raises(KafkaError):
        read_topic(
            broker.bootstrap,
            "anything",
            timeout=5,
            **{**without.kafka_python_config(), "request_timeout_ms": 5000},
        )
    # the right certificate, the same credentials: accepted
    with KafkaEventSink(broker.settings(topic_prefix=_prefix())) as sink:
        sink.send_events(_events(3, "mtls"))


def _bad(broker: SecureBroker, password: str) -> dict[str, object]:
    return {
        **broker.settings(password=password).kafka_python_config(),
        "request_timeout_ms": 5000,
    }


def test_sasl_settings_need_a_username_and_password() -> None:
    with pytest.raises(ValueError, match="CASHLESS_KAFKA_SASL_USERNAME"):
        KafkaSettings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u")
    settings = KafkaSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="u",
        kafka_sasl_password=SecretStr("pw-x"),
    )
    assert "pw-x" not in repr(settings)
    assert "pw-x" not in str(settings.model_dump())
    assert settings.aiokafka_config()["ssl_context"] is not None
    assert KafkaSettings().kafka_python_config() == {}
    assert KafkaSettings().aiokafka_config() == {}


def test_the_gateway_publishes_with_the_security_settings_from_the_environment(
    broker: SecureBroker, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.json"
    hawaco = add_token(tokens, "hawaco")
    topic_prefix = _prefix()
    with gateway(broker.bootstrap, topic_prefix, tokens, tmp_path, env=broker.env()) as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach the secured broker")
        pushed = gw.push("payments", payments(30, "gw"), hawaco)
        assert pushed.status_code == 202, pushed.text
        metrics = gw.get("/metrics").text
        output = gw.output()
    assert _read_ids(broker, topic_prefix) == sorted(f"gw-{i}" for i in range(30))
    assert_no_secret(broker, output, metrics)
    if broker.mechanism is None:
        return  # TLS alone: no password to get wrong (a missing certificate: the test above)

    wrong = f"wrong-{uuid.uuid4().hex}"
    env = {**broker.env(), "CASHLESS_KAFKA_SASL_PASSWORD": wrong}
    with gateway(broker.bootstrap, _prefix(), tokens, tmp_path, env=env) as gw:
        refused = gw.push("payments", payments(3, "no"), hawaco)
        assert refused.status_code == 503
        assert not gw.ready()
        wait_for(lambda: "answering 503" in gw.output(), timeout=60, what="the outage log")
        output = gw.output()
        metrics = gw.get("/metrics").text
    assert "cashless_gateway_kafka_ready 0.0" in metrics
    assert f"cannot connect to Kafka at {broker.bootstrap}" in output
    assert wrong not in output
    assert wrong not in metrics


def test_the_worker_consumes_with_the_security_settings_from_the_environment(
    broker: SecureBroker, tmp_path: Path
) -> None:
    topic_prefix = _prefix()
    events = _events(60, "worker")
    with KafkaEventSink(broker.settings(topic_prefix=topic_prefix)) as sink:
        sink.send_events(events)
    port = free_port()
    log = tmp_path / "worker.log"
    command = [
        *(sys.executable, "-m", "cli", "worker", "--topic-prefix", topic_prefix),
        *("--app-id", f"secure-{uuid.uuid4().hex[:6]}", "--state-dir", str(tmp_path / "state")),
        *("--web-port", str(port)),
    ]
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**clean_env(), **broker.env()},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def counted() -> float:
            assert worker.poll() is None, log.read_text(errors="replace")[-4000:]
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                return 0.0
            total = sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("cashless_payments_total{")
            )
            return total if total >= len(events) else 0.0

        try:
            assert wait_for(counted, timeout=180, what="the worker to count the events") == 60
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text(errors='replace')[-4000:]}") from None
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    output = log.read_text(errors="replace")
    assert_no_secret(broker, output, metrics)
