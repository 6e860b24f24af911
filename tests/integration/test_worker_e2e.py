"""End to end: simulator -> real Kafka -> `cashless worker` processes -> /metrics == ground truth.

The simulator writes its ground truth beside `--out`; the same run (same seed and key) is then
sent into Kafka, and the workers' merged /metrics must equal the truth to 1e-9: every series
present, none extra, each exported by exactly one worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from prometheus_client.parser import text_string_to_metric_families

from cashless.metrics import METRICS
from ops.stack.ports import free_port
from tests.conftest import ROOT, RunningStack, wait_for

pytestmark = pytest.mark.integration

KEY = "e2e-test-key-0123456789abcdef0123"
Series = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Dataset:
    """One simulated run sent into Kafka under its own topic prefix, with its ground truth."""

    prefix: str
    truth: dict[Series, float]
    districts: Path
    payments: int


def environment(stack: RunningStack, dataset_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CASHLESS_BOOTSTRAP_SERVERS=stack.bootstrap, CASHLESS_PSEUDONYM_KEY=KEY)
    env["PYTHONUNBUFFERED"] = "1"  # a worker's log is complete even after kill -9
    if dataset_dir is not None:
        env["CASHLESS_DISTRICTS_FILE"] = str(dataset_dir / "run.districts.csv")
    return env


def make_dataset(
    stack: RunningStack,
    directory: Path,
    days: int,
    per_day: int,
    prefix: str | None = None,
    seed: int = 21,
) -> Dataset:
    """A simulated run in `directory` (`run.jsonl` and its truth), sent under `prefix`."""
    args = [
        *("--seed", str(seed), "--days", str(days), "--events-per-day", str(per_day)),
        *("--end", "2026-11-20T00:00:00+07:00", "--duplicates", "0.02", "--late", "0.02"),
        *("--bad-records", "0.01", "--batch-size", "100"),
    ]
    prefix = prefix or f"e2e{uuid.uuid4().hex[:8]}."
    env = environment(stack)
    directory.mkdir(parents=True, exist_ok=True)
    for extra in (["--out", str(directory / "run.jsonl")], ["--topic-prefix", prefix]):
        result = subprocess.run(
            [sys.executable, "-m", "cli", "simulate", *args, *extra],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    truth = {
        (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
        for item in json.loads((directory / "run.truth.json").read_text())
    }
    payments = int(sum(v for (name, _), v in truth.items() if name == "cashless_payments_total"))
    return Dataset(prefix, truth, directory / "run.districts.csv", payments)


@pytest.fixture(scope="module")
def small(running_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return make_dataset(running_stack, tmp_path_factory.mktemp("small"), days=3, per_day=1500)


class WorkerProcess:
    """A `cashless worker` subprocess with its own /metrics port."""

    def __init__(
        self,
        stack: RunningStack,
        dataset: Dataset,
        app_id: str,
        state: Path,
        port: int | None = None,
        launcher: tuple[str, ...] = ("-m", "cli"),
    ) -> None:
        self.port = port or free_port()  # the port names the local store: the same one reuses it
        self.app_id = app_id
        self.topics = [f"{dataset.prefix}payments.{t}" for t in ("events", "accounts")]
        self.bootstrap = stack.bootstrap
        self.datadir = state / f"{app_id}-{self.port}"
        env = environment(stack, dataset.districts.parent)
        command = [
            sys.executable,
            *launcher,
            "worker",
            *("--topic-prefix", dataset.prefix, "--app-id", app_id),
            *("--web-port", str(self.port), "--state-dir", str(state)),
        ]
        self.log = state / f"worker-{self.port}.log"
        state.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # a restarted worker's log follows the killed one's
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def metrics(self) -> dict[Series, float] | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        samples: dict[Series, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in METRICS:  # the contract's series (not the consumer lag)
                    samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        return samples

    def health(self) -> dict[str, Any]:
        """The worker's /healthz: owned partitions and the last applied offset of each."""
        try:
            health: dict[str, Any] = httpx.get(
                f"http://127.0.0.1:{self.port}/healthz", timeout=5
            ).json()
        except httpx.HTTPError:
            return {}
        return health

    def owned(self) -> list[int]:
        """The `payments.events` partitions the worker owns, from its /healthz."""
        owned: list[int] = self.health().get("owned", [])
        return owned

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)


@pytest.fixture
def workers(running_stack: RunningStack, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop(signal.SIGKILL)


def merged(workers: list[WorkerProcess]) -> tuple[dict[Series, float], set[Series]]:
    """The union of the workers' series, and the series more than one of them exports."""
    union: dict[Series, float] = {}
    twice: set[Series] = set()
    for worker in workers:
        for series, value in (worker.metrics() or {}).items():
            if series in union:
                twice.add(series)
            union[series] = value
    return union, twice


def difference(actual: dict[Series, float], truth: dict[Series, float]) -> list[str]:
    problems = [f"missing {s}" for s in truth if s not in actual]
    problems += [f"extra {s}" for s in actual if s not in truth]
    problems += [
        f"wrong {s}: {actual[s]} != {v}"
        for s, v in truth.items()
        if s in actual and abs(actual[s] - v) > 1e-9
    ]
    return problems


def wait_equal(workers: list[WorkerProcess], truth: dict[Series, float], timeout: float) -> None:
    last: list[str] = []

    def equal() -> bool:
        nonlocal last
        union, twice = merged(workers)
        last = difference(union, truth) + [f"exported twice {s}" for s in twice]
        return not last

    try:
        wait_for(equal, timeout=timeout, what="the workers' /metrics to equal the ground truth")
    except AssertionError:
        logs = "\n".join(w.log.read_text()[-3000:] for w in workers)
        where = "\n".join(f"{w.health()}\n{group_positions(w)}" for w in workers)
        raise AssertionError(
            f"{len(last)} differences, e.g. {last[:10]}\n{where}\n{logs}"
        ) from None


def group_positions(worker: WorkerProcess) -> dict[str, list[tuple[int, int | None, int]]]:
    """Per input topic: (partition, the group's committed offset, end offset)."""
    admin = KafkaAdminClient(bootstrap_servers=worker.bootstrap, request_timeout_ms=10_000)
    try:
        partitions = [TopicPartition(t, p) for t in worker.topics for p in range(12)]
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        committed = admin.list_group_offsets({worker.app_id: None}).get(worker.app_id, {})
    finally:
        admin.close()
    return {
        topic: [
            (tp.partition, committed[tp].offset if tp in committed else None, ends[tp].offset)
            for tp in partitions
            if tp.topic == topic
        ]
        for topic in worker.topics
    }


def applied(worker: WorkerProcess) -> float:
    samples = worker.metrics() or {}
    return sum(v for (name, _), v in samples.items() if name == "cashless_payments_total")


def test_one_worker_equals_the_ground_truth(
    running_stack: RunningStack, small: Dataset, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    workers.append(WorkerProcess(running_stack, small, f"one-{uuid.uuid4().hex[:6]}", tmp_path))
    wait_equal(workers, small.truth, timeout=180)
    # caught up: the consumer lag of each of the 24 input partitions it owns reads 0
    text = httpx.get(f"http://127.0.0.1:{workers[0].port}/metrics", timeout=5).text
    lag = {
        (sample.labels["topic"], sample.labels["partition"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cashless_consumer_lag_records"
    }
    assert {topic for topic, _ in lag} == set(workers[0].topics)
    assert len(lag) == 24
    assert set(lag.values()) == {0.0}


@pytest.mark.parametrize(
    ("local_store", "moment"),
    [("kept", "first_batch"), ("emptied", "first_batch"), ("kept", "after_a_commit")],
)
def test_kill_9_mid_stream_then_restart_counts_everything_once(
    running_stack: RunningStack,
    workers: list[WorkerProcess],
    tmp_path: Path,
    local_store: str,
    moment: str,
) -> None:
    """Killed once it applied its first events, or once the group has committed offsets, and
    restarted on its local store (RocksDB + the changelog's tail) or on an empty one (all state
    recovered from the changelogs): the same numbers every way."""
    dataset = make_dataset(running_stack, tmp_path / "data", days=10, per_day=4000)
    app_id = f"kill-{uuid.uuid4().hex[:6]}"
    first = WorkerProcess(running_stack, dataset, app_id, tmp_path / "state")
    workers.append(first)

    def ready_to_kill() -> float | None:
        if moment == "after_a_commit" and not any(
            committed is not None
            for positions in group_positions(first).values()
            for _, committed, _ in positions
        ):
            return None
        return applied(first) or None

    progress = wait_for(ready_to_kill, timeout=120, what="the worker to apply events")
    assert progress < dataset.payments, "the kill must happen mid-stream"
    first.stop(signal.SIGKILL)
    assert first.datadir.is_dir(), "the worker keeps its state in its local store"
    if local_store == "emptied":
        shutil.rmtree(first.datadir)
    again = WorkerProcess(running_stack, dataset, app_id, tmp_path / "state", port=first.port)
    workers.append(again)
    wait_equal([again], dataset.truth, timeout=240)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill_9"])
def test_two_workers_share_the_work_and_one_survives_the_other(
    running_stack: RunningStack,
    small: Dataset,
    workers: list[WorkerProcess],
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    app_id = f"two-{uuid.uuid4().hex[:6]}"
    workers.append(WorkerProcess(running_stack, small, app_id, tmp_path / "a"))
    workers.append(WorkerProcess(running_stack, small, app_id, tmp_path / "b"))
    # Both in the group first: one worker alone would reach the truth with every partition.
    wait_for(
        lambda: all(w.owned() for w in workers), timeout=120, what="both workers to own partitions"
    )
    wait_equal(workers, small.truth, timeout=240)
    assert all(w.metrics() for w in workers), "both workers serve /metrics"
    owned = [{s for s in (w.metrics() or {}) if s[0] == "cashless_noncash_ratio"} for w in workers]
    assert all(owned), "each worker exports the segments of the partitions it owns"
    workers[1].stop(stop)  # its partitions move to the survivor, with their state
    wait_equal(workers[:1], small.truth, timeout=240)
