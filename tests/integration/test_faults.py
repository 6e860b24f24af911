"""Fault matrix against the real servers: Kafka restarted under load, Prometheus restarted, a
data directory that is full or read-only at start.

The module runs its own stack (Kafka, Prometheus, Alertmanager on free ports under a temporary
directory), because stopping the session's broker would break the tests running beside it. Each
fault ends with a worker's /metrics compared with the ground truth of what was accepted. (Worker
faults, kill -9 and rebalance, are in `test_worker_e2e.py`.)
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from kafka import KafkaConsumer, TopicPartition

from cashless.schema import PaymentEvent
from cashless.taxonomy import METHODS, load_taxonomy
from cashless.topics import Topics
from ops.stack import Stack
from ops.stack.ports import free_port
from producers.ground_truth import expected_metrics
from producers.simulate.calibration import HANOI
from tests.conftest import ROOT, RunningStack, stack_settings, started_stack, wait_for
from tests.integration import test_worker_e2e as worker_e2e
from tests.integration.test_gateway import Sender, add_token, cashless, gateway
from tests.integration.test_worker_e2e import (
    Dataset,
    Series,
    WorkerProcess,
    difference,
    environment,
    make_dataset,
    merged,
)

pytestmark = pytest.mark.integration

PACKAGED_DISTRICTS = ROOT / "cashless" / "data" / "districts.csv"
# Re-sent records are dropped as duplicates by design: how many is not part of the truth.
REDELIVERY = "cashless_events_duplicate_total"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of this module's own, so that its servers can be stopped without harming others.

    Prometheus scrapes two worker targets: the reserved `target_port`, and a port nothing ever
    listens on, so that `CashlessWorkerDown` is firing by the time the Prometheus test runs.
    """
    target_port = free_port()
    settings = stack_settings(tmp_path_factory.mktemp("faults-stack"), target_port)
    settings = settings.model_copy(
        update={"worker_targets": f"127.0.0.1:{target_port},127.0.0.1:{free_port()}"}
    )
    with started_stack(settings) as running:
        yield running


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def restart(stack: Stack, name: str) -> None:
    """Stop one server of the stack and start it again on the same port with the same state."""
    stack.stop(name)
    stack.up()


def end_offset(bootstrap: str, topic: str) -> int:
    """The sum of the end offsets of a topic's partitions (0 when it does not exist yet)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def wait_truth(
    pairs: list[tuple[WorkerProcess, dict[Series, float]]], ignore: set[str], timeout: float
) -> None:
    """Wait until each worker's /metrics equal its truth (series named in `ignore` aside)."""
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        last = []
        for worker, truth in pairs:
            union, _ = merged([worker])
            actual = {s: v for s, v in union.items() if s[0] not in ignore}
            last += difference(actual, {s: v for s, v in truth.items() if s[0] not in ignore})
        return not last

    try:
        wait_for(equal, timeout=timeout, what="the workers' /metrics to equal the ground truth")
    except AssertionError:
        logs = "\n".join(w.log.read_text()[-3000:] for w, _ in pairs)
        raise AssertionError(f"{len(last)} differences, e.g. {last[:10]}\n{logs}") from None


def redelivered(worker: WorkerProcess) -> float:
    return sum(v for (name, _), v in (worker.metrics() or {}).items() if name == REDELIVERY)


# -- Kafka stopped and restarted while the simulator and the gateway send --------------------------


@dataclass
class PushingClient(Sender):
    """The gateway tests' client (re-sends a batch answered 503 until it is answered 202), with
    clean live payments whose ground truth can be computed: `events` are those answered 202."""

    source: str = "fault-gateway"
    events: list[PaymentEvent] = field(default_factory=list)

    def batch(self, number: int, size: int = 40) -> list[PaymentEvent]:
        taxonomy = load_taxonomy()
        rng = random.Random(number)
        segments = sorted(taxonomy.segments)
        districts = sorted(taxonomy.districts)
        now = datetime.now(HANOI).replace(microsecond=0)
        events = []
        for i in range(size):
            channel, segment = rng.choice(segments[:6])
            item = {
                "schema": 1,
                "event_id": f"gw-{number}-{i}",
                "occurred_at": now.isoformat(),
                "source": self.source,
                "channel": channel,
                "segment": segment,
                "district": rng.choice(districts[:5]),
                "method": rng.choice(METHODS),
                "amount_vnd": rng.randrange(1_000, 2_000_000),
            }
            events.append(msgspec.convert(item, PaymentEvent))
        return events

    def push_more(self, events: int, timeout: float) -> None:
        """Wait until `events` more events than now are answered 202."""
        target = len(self.events) + events
        wait_for(lambda: len(self.events) >= target, timeout=timeout, what=f"{events} more 202s")

    def run(self) -> None:
        try:
            number = 0
            while not self.stop.is_set():
                events = self.batch(number)
                body = msgspec.to_builtins(events)
                while True:
                    response = self.gw.push("payments", body, self.token)
                    self.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        self.events += events
                        self.accepted += [e.event_id for e in events]
                        break
                    assert response.status_code == 503, response.text
                    self.retry_after.add(response.headers["Retry-After"])
                    # A real client waits Retry-After seconds; the outage is shorter than that.
                    self.stop.wait(0.2)
                number += 1
                self.stop.wait(0.05)
        except BaseException as exc:
            self.error = exc


def test_kafka_restart_while_simulator_and_gateway_send_loses_and_doubles_nothing(
    own_stack: RunningStack, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    stack = own_stack.stack
    sim_dir, gw_dir, failing_dir = tmp_path / "sim", tmp_path / "gw", tmp_path / "failing"
    for directory in (sim_dir, gw_dir, failing_dir):
        directory.mkdir()
    shutil.copy(PACKAGED_DISTRICTS, gw_dir / "run.districts.csv")
    sim = Dataset(f"fs{uuid.uuid4().hex[:8]}.", {}, sim_dir / "run.districts.csv", 0)
    pushed = Dataset(f"fg{uuid.uuid4().hex[:8]}.", {}, gw_dir / "run.districts.csv", 0)
    failing_prefix = f"ff{uuid.uuid4().hex[:8]}."
    env = environment(own_stack)

    def simulate(
        directory: Path, prefix: str, seconds: int, **extra_env: str
    ) -> subprocess.Popen[str]:
        command = [
            *(sys.executable, "-m", "cli", "simulate", "--rate", "150/s"),
            *("--duration", f"{seconds}s", "--population-scale", "0.0002", "--seed", "5"),
            *("--topic-prefix", prefix, "--truth", str(directory / "run.truth.json")),
            *("--districts-out", str(directory / "run.districts.csv")),
        ]
        with (directory / "simulate.log").open("w") as log:
            return subprocess.Popen(
                command,
                cwd=ROOT,
                env={**env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )

    simulator = simulate(sim_dir, sim.prefix, 45)
    wait_for(sim.districts.exists, timeout=60, what="the simulator to start")
    workers.append(WorkerProcess(own_stack, sim, f"fsim-{uuid.uuid4().hex[:6]}", sim_dir / "w"))
    workers.append(WorkerProcess(own_stack, pushed, f"fgw-{uuid.uuid4().hex[:6]}", gw_dir / "w"))
    tokens = tmp_path / "tokens.json"
    token = add_token(tokens, "fault-gateway")
    with gateway(own_stack.bootstrap, pushed.prefix, tokens, tmp_path, "--send-timeout", "3") as gw:
        wait_for(gw.ready, timeout=60, what="the gateway to reach Kafka")
        client = PushingClient(gw, token)
        thread = threading.Thread(target=client.run, daemon=True)
        thread.start()
        wait_for(lambda: client.statuses[202] >= 3, timeout=60, what="202s before the outage")
        wait_for(lambda: workers[0].metrics(), timeout=120, what="the worker to serve metrics")
        # A simulator whose records may wait only 3 s for Kafka: it must stop with an error as
        # soon as records fail, long before its minute is up, and write no truth.
        failing = simulate(
            failing_dir,
            failing_prefix,
            60,
            CASHLESS_PRODUCER_DELIVERY_TIMEOUT_MS="3000",
            CASHLESS_PRODUCER_REQUEST_TIMEOUT_MS="1000",
            CASHLESS_PRODUCER_FLUSH_TIMEOUT_SECONDS="5",
        )
        events_topic = Topics(failing_prefix).events
        wait_for(
            lambda: end_offset(own_stack.bootstrap, events_topic) > 0,
            timeout=60,
            what="the short-timeout simulator to send",
        )
        assert simulator.poll() is None, "the outage must come while the simulator sends"

        stack.stop("kafka")
        wait_for(lambda: client.statuses[503] >= 3, timeout=60, what="503s during the outage")
        assert not gw.ready()
        failing.wait(timeout=45)
        stack.up()

        wait_for(gw.ready, timeout=90, what="the gateway to reconnect")
        client.push_more(200, timeout=60)
        client.stop.set()
        thread.join(timeout=60)
    assert client.error is None, client.error
    assert client.retry_after == {"5"}, "every 503 tells when to come back"

    assert simulator.wait(timeout=180) == 0, (sim_dir / "simulate.log").read_text()
    failed = (failing_dir / "simulate.log").read_text()
    assert failing.returncode == 1, failed
    assert "failed to deliver" in failed, failed
    assert not (failing_dir / "run.truth.json").exists(), "no truth for a run Kafka did not take"

    sim_truth = {
        (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
        for item in msgspec.json.decode((sim_dir / "run.truth.json").read_bytes())
    }
    gw_truth = expected_metrics(client.events, [], load_taxonomy()).values
    assert sum(v for (n, _), v in gw_truth.items() if n == "cashless_payments_total") == len(
        client.events
    )
    wait_truth([(workers[0], sim_truth), (workers[1], gw_truth)], ignore={REDELIVERY}, timeout=180)
    sent = sum(v for (name, _), v in sim_truth.items() if name == "cashless_payments_total")
    print(
        f"\nKafka restart: simulator {sent:.0f} payments, gateway {len(client.events)} accepted "
        f"with 202, {client.statuses[503]} answered 503; re-sent records dropped as duplicates: "
        f"simulator {redelivered(workers[0]):.0f}, gateway {redelivered(workers[1]):.0f}"
    )


# -- Prometheus restarted --------------------------------------------------------------------------

Alert = tuple[tuple[str, str], ...]


def _prometheus(stack: RunningStack, path: str, **params: str) -> object:
    try:
        answer = httpx.get(f"{stack.prometheus_url}{path}", params=params, timeout=5).json()
    except httpx.HTTPError:
        return None
    assert answer["status"] == "success", answer
    return answer["data"]


def prometheus_alerts(stack: RunningStack) -> dict[Alert, tuple[str, str]] | None:
    """Prometheus's alerts: labels -> (state, activeAt); None while it does not answer."""
    data = _prometheus(stack, "/api/v1/alerts")
    if not isinstance(data, dict):
        return None
    return {tuple(sorted(a["labels"].items())): (a["state"], a["activeAt"]) for a in data["alerts"]}


def alertmanager_alerts(stack: RunningStack) -> dict[Alert, str]:
    """Alertmanager's active alerts: labels -> startsAt."""
    response = httpx.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    return {tuple(sorted(a["labels"].items())): a["startsAt"] for a in response.json()}


def _epoch(timestamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time from Prometheus (to the second)."""
    return datetime.fromisoformat(timestamp[:19]).replace(tzinfo=UTC).timestamp()


def sample(stack: RunningStack, expr: str) -> float | None:
    data = _prometheus(stack, "/api/v1/query", query=expr)
    result = data["result"] if isinstance(data, dict) else []
    return float(result[0]["value"][1]) if result else None


def test_prometheus_restart_resumes_the_series_and_no_alert_flaps(
    own_stack: RunningStack,
    workers: list[WorkerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = make_dataset(own_stack, tmp_path / "data", days=3, per_day=800)
    # The worker listens on the target that the stack's Prometheus scrapes.
    monkeypatch.setattr(worker_e2e, "free_port", lambda: own_stack.target_port)
    workers.append(WorkerProcess(own_stack, dataset, f"prom-{uuid.uuid4().hex[:6]}", tmp_path))
    instance = f'instance="127.0.0.1:{own_stack.target_port}"'
    total = f"sum(cashless_payments_total{{{instance}}})"
    wait_for(
        lambda: sample(own_stack, total) == dataset.payments,
        timeout=180,
        what="Prometheus to scrape the worker's complete counts",
    )

    def settled() -> dict[Alert, tuple[str, str]] | None:
        alerts = prometheus_alerts(own_stack) or {}
        states = {dict(a)["alertname"]: s for a, (s, _) in alerts.items()}
        # One alert firing (the target nobody listens on) and adoption alerts pending.
        if states.get("CashlessWorkerDown") == "firing" and "pending" in states.values():
            return alerts
        return None

    before = wait_for(settled, timeout=180, what="an alert firing and others pending")
    firing = {a for a, (state, _) in before.items() if state == "firing"}
    wait_for(
        lambda: firing <= set(alertmanager_alerts(own_stack)),
        timeout=60,
        what="Alertmanager to hold the firing alerts",
    )
    notified = alertmanager_alerts(own_stack)
    stopped_at = time.time()
    restart(own_stack.stack, "prometheus")

    # The series go on: the worker is scraped again, under the same labels, with its counts.
    wait_for(
        lambda: sample(own_stack, f"timestamp(up{{{instance}}}) > {stopped_at} and up == 1"),
        timeout=60,
        what="a scrape of the worker by the restarted Prometheus",
    )
    wait_for(
        lambda: (
            sample(own_stack, f"{total} and on () (timestamp(up{{{instance}}}) > {stopped_at})")
            == dataset.payments
        ),
        timeout=60,
        what="the worker's counts after the restart",
    )
    spans = _prometheus(
        own_stack,
        "/api/v1/query_range",
        query=f"cashless_payments_total{{{instance}}}",
        start=str(stopped_at - 20),
        end=str(time.time()),
        step="1",
    )
    assert isinstance(spans, dict)
    assert spans["result"]
    for series in spans["result"]:
        times = [float(t) for t, _ in series["values"]]
        values = [float(v) for _, v in series["values"]]
        assert min(times) < stopped_at < max(times), f"one series across the restart: {series}"
        assert values == sorted(values), f"a counter went down across the restart: {series}"
    _assert_no_alert_flaps(own_stack, before, notified, stopped_at)

    # A worker that misses scrapes (paused longer than the scrape timeout: a long GC, a loaded
    # host) makes Prometheus mark its series stale at the first failed scrape; the recordings
    # the alerts read must ride that out as `for:` rides out a restart.
    paused_at = time.time()
    worker = workers[-1].process
    worker.send_signal(signal.SIGSTOP)
    try:
        wait_for(
            lambda: sample(own_stack, f"timestamp(up{{{instance}}} == 0) > {paused_at}"),
            timeout=30,
            what="a failed scrape of the paused worker",
        )
    finally:
        worker.send_signal(signal.SIGCONT)
    wait_for(
        lambda: sample(own_stack, f"timestamp(up{{{instance}}} == 1) > {paused_at}"),
        timeout=30,
        what="a scrape of the resumed worker",
    )
    _assert_no_alert_flaps(own_stack, before, notified, stopped_at)


def _assert_no_alert_flaps(
    own_stack: RunningStack,
    before: dict[Alert, tuple[str, str]],
    notified: dict[Alert, str],
    stopped_at: float,
) -> None:
    """Over the next 15 evaluations (one a second): no firing alert goes back to pending, no
    pending alert starts its `for:` clock again, nothing new fires, Alertmanager keeps them."""
    firing = {a for a, (state, _) in before.items() if state == "firing"}
    observed: list[dict[Alert, tuple[str, str]]] = []

    def watched() -> bool:
        alerts = prometheus_alerts(own_stack)
        if alerts is not None:
            observed.append(alerts)
        return len(observed) >= 15

    wait_for(watched, timeout=60, what="fifteen looks at the alerts")
    for alerts in observed:
        now_firing = {a for a, (state, _) in alerts.items() if state == "firing"}
        assert now_firing == firing, f"firing before {firing}, after {now_firing}"
        for labels, (state, _) in before.items():
            if state == "pending":
                assert labels in alerts, f"{labels} is no longer pending"
                assert _epoch(alerts[labels][1]) < stopped_at, f"{labels}: its for: restarted"
    after = alertmanager_alerts(own_stack)
    for labels, starts_at in notified.items():
        assert after.get(labels) == starts_at, f"{labels} was resolved or restarted in Alertmanager"


# -- the data directory full or read-only at start -------------------------------------------------


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `path` for the test (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; CI runs the integration tests as root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def remount(path: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(path)], check=True)


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under `path` by relative name, with its content hash."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).digest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit status 1, no traceback, and a last line that says what and where."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.lower().startswith("error: "), result.stderr
    for word in words:
        assert word in last, f"{word!r} not in {last!r}"


def test_worker_state_dir_read_only_or_full_at_start(
    own_stack: RunningStack, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    dataset = make_dataset(own_stack, tmp_path / "data", days=1, per_day=1500)
    app_id = f"disk-{uuid.uuid4().hex[:6]}"
    with tmpfs(tmp_path / "state", "512m") as state, tmpfs(tmp_path / "tiny", "64k") as tiny:
        # A worker runs on the filesystem to the truth, so that there is state to protect.
        workers.append(WorkerProcess(own_stack, dataset, app_id, state))
        wait_truth([(workers[-1], dataset.truth)], ignore=set(), timeout=180)
        workers[-1].stop()
        before = snapshot(state)
        assert any("rocksdb" in name.lower() or "CURRENT" in name for name in before), before

        remount(state, "ro")
        port = str(free_port())
        common = ["worker", "--topic-prefix", dataset.prefix, "--app-id", app_id]
        refused = cashless(*common, "--web-port", port, "--state-dir", state)
        assert_one_line_error(refused, str(state), "read-only")
        assert snapshot(state) == before, "a refused start changes nothing"

        full = cashless(*common, "--web-port", port, "--state-dir", tiny / "w")
        assert_one_line_error(full, str(tiny / "w"), "not enough disk space")
        assert list(tiny.iterdir()) == [], "nothing is written to a full disk"

        # Writable again: the same state is used as it was, and the truth is reached again.
        remount(state, "rw")
        workers.append(WorkerProcess(own_stack, dataset, app_id, state))
        wait_truth([(workers[-1], dataset.truth)], ignore=set(), timeout=180)
        workers[-1].stop()


def test_stack_data_dir_read_only_or_full_at_start(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "512m") as read_only, tmpfs(tmp_path / "tiny", "64k") as tiny:
        remount(read_only, "ro")
        for data_dir, problem in ((read_only / "stack", "read-only"), (tiny / "stack", "space")):
            ports = stack_settings(data_dir)
            result = cashless(
                *("stack", "up", "--data-dir", data_dir),
                *("--kafka-port", str(ports.kafka_port)),
                *("--prometheus-port", str(ports.prometheus_port)),
                *("--alertmanager-port", str(ports.alertmanager_port)),
            )
            assert_one_line_error(result, str(data_dir), problem)
            assert not data_dir.exists(), "nothing is created, so nothing is half-written"
