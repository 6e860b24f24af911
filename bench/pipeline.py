"""`make bench`: the pipeline measured side by side with its ceiling, a naive Faust job and a peer.

One run starts the real local stack (`ops.stack.Stack`) on free ports under a temporary
directory, loads one fixed simulator dataset into Kafka, then measures, each several times and
each as its own process reading the same topic from the beginning:

- ceiling: a bare aiokafka loop with the project's decoder and dict counters (bench/ceiling.py);
- naive:   a straightforward Faust agent with hopping-window tables (bench/naive_faust.py);
- peer:    the same job with Quix Streams, hopping window aggregation (bench/quix_peer.py);
- ours:    `cashless worker`, timed until its /metrics shows every applied payment of the
           dataset's ground truth, then checked against the whole ground truth.

Then the produce -> /metrics latency of `cashless worker` at a fixed live rate (bench/live_load.py),
and the producer throughput of `cashless replay` (the dataset file) and of `cashless gateway`
(the load generator of tests/integration/test_gateway.py in a second process).

Results of a whole run go to bench/results/latest.json and docs/BENCHMARKS.md; `--quick` (a
small dataset, one repetition) and `--only` runs write .cashless/bench/quick.json or
partial.json only. After the timed runs of ours, one more run (not counted) is sampled with
py-spy from its first applied payment to its end: where its time goes, by part
(`bench/time_by_part.py`), is in the report, its stacks in .cashless/bench/ours-profile.txt. Every
process it starts, and the stack, is stopped at the end, also on error or Ctrl-C.

    .venv/bin/python bench/pipeline.py [--quick] [--only ceiling,naive,peer,ours,latency,...]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cashless.settings import StackSettings
from cashless.topics import Topics, ensure_topics
from ops.stack import KAFKA_VERSION, Stack

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PROFILE = ROOT / ".cashless" / "bench" / "ours-profile.txt"  # py-spy's stacks of the last run
DOCS = ROOT / "docs" / "BENCHMARKS.md"
KEY = "bench-pseudonym-key-0123456789abcdef"
END = "2026-11-20T00:00:00+07:00"  # fixed, so the dataset is the same run after run
PARTS = ("ceiling", "naive", "peer", "ours", "latency", "replay", "gateway")
CONTENDERS = ("ceiling", "naive", "peer", "ours")
Series = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Plan:
    """Sizes of one run of the benchmark."""

    name: str
    seed: int
    days: int
    events_per_day: int
    duplicates: float
    late: float
    bad_records: float
    reps: int
    cap_seconds: float  # the naive and peer runs stop after this long (they are slow)
    ours_timeout: float
    window_minutes: int
    step_minutes: int
    live_rate: int
    live_seconds: float
    live_reps: int
    gateway_requests: int
    gateway_concurrency: int = 8
    gateway_batch: int = 500
    poll_seconds: float = 0.5  # /metrics poll of the throughput run (each scrape costs the worker)
    live_poll_seconds: float = 0.1
    live_skip_seconds: float = 1.0  # the producer's first second (its metadata fetch) not counted


FULL = Plan(
    name="full",
    seed=11,
    days=30,
    events_per_day=15_000,
    duplicates=0.02,
    late=0.02,
    bad_records=0.005,
    reps=3,
    cap_seconds=30,
    ours_timeout=600,
    window_minutes=60,
    step_minutes=1,
    live_rate=5000,
    live_seconds=20,
    live_reps=3,
    gateway_requests=300,
)
QUICK = Plan(
    name="quick",
    seed=11,
    days=3,
    events_per_day=3000,
    duplicates=0.02,
    late=0.02,
    bad_records=0.005,
    reps=1,
    cap_seconds=5,
    ours_timeout=180,
    window_minutes=60,
    step_minutes=1,
    live_rate=2000,
    live_seconds=5,
    live_reps=1,
    gateway_requests=20,
)

_started = time.monotonic()


def say(message: str) -> None:
    """Progress on stdout, with the time since the start."""
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_settings(work: Path, **overrides: Any) -> StackSettings:
    """A local stack under `work/stack` on free ports, with the checkout's jar cache; the
    scrape targets are free ports too unless `overrides` name them."""
    settings: dict[str, Any] = {
        "worker_targets": f"127.0.0.1:{free_port()}",
        "gateway_targets": f"127.0.0.1:{free_port()}",
        **overrides,
    }
    return StackSettings(
        data_dir=work / "stack",
        cache_dir=ROOT / ".cashless" / "cache",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        **settings,
    )


class Processes:
    """Every subprocess the benchmark starts, so that all of them are stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: Sequence[str | Path], env: dict[str, str]) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(c) for c in command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.running.append(popen)
        return Proc(name, popen, log)

    def stop(self, proc: Proc, grace: float = 15.0) -> None:
        popen = proc.popen
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        with contextlib.suppress(ValueError):
            self.running.remove(popen)

    def stop_all(self) -> None:
        for popen in list(self.running):
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        self.running.clear()


@dataclass
class Proc:
    """A started subprocess and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text("utf-8", errors="replace")[-chars:]

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads) from /proc."""
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """VmHWM (peak resident set size) from /proc."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns a truthy value; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# -- /metrics -------------------------------------------------------------------------------------

_PAYMENTS = re.compile(r"^cashless_payments_total\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape(client: httpx.Client, port: int) -> str | None:
    try:
        response = client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def payments_by_segment(text: str) -> dict[str, float]:
    """`cashless_payments_total` summed over methods, per `channel:segment` (a record key)."""
    totals: dict[str, float] = defaultdict(float)
    for labels, value in _PAYMENTS.findall(text):
        named = dict(_LABEL.findall(labels))
        totals[f"{named.get('channel')}:{named.get('segment')}"] += float(value)
    return totals


def samples(text: str) -> dict[Series, float]:
    found: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def differences(actual: dict[Series, float], truth: dict[Series, float]) -> int:
    """How many series of the ground truth are missing or wrong, plus those that are extra."""
    wrong = sum(1 for s, v in truth.items() if s not in actual or abs(actual[s] - v) > 1e-9)
    return wrong + sum(1 for s in actual if s not in truth)


# -- statistics -----------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float] | None:
    """Median, min and max of the values that are numbers (None when there is none)."""
    numbers = [v for v in values if v is not None and not math.isnan(v)]
    if not numbers:
        return None
    return {
        "median": statistics.median(numbers),
        "min": min(numbers),
        "max": max(numbers),
        "n": len(numbers),
    }


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """The simulated run loaded into Kafka once, with its file and ground truth."""

    prefix: str
    file: Path
    districts: Path
    truth: dict[Series, float]
    applied: int
    file_payment_lines: int = 0
    file_account_lines: int = 0
    events: int = 0  # payment events in the topic (valid, duplicate, late or bad), by the census
    records: int = 0
    load_seconds: float = 0.0


@dataclass
class Bench:
    """One run of the benchmark: the stack, the processes, and what was measured."""

    plan: Plan
    work: Path
    peer_python: Path | None
    only: set[str]
    results: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.work / "logs")
        settings = stack_settings(self.work)
        self.stack = Stack(settings)
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"
        self.http = httpx.Client()

    # -- helpers

    def env(self, dataset: Dataset | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
        env.update(
            CASHLESS_BOOTSTRAP_SERVERS=self.bootstrap,
            CASHLESS_PSEUDONYM_KEY=KEY,
            PYTHONUNBUFFERED="1",
        )
        if dataset is not None:
            env["CASHLESS_DISTRICTS_FILE"] = str(dataset.districts)
        return env

    def cashless(
        self, *args: str | Path, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "cli", *map(str, args)],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cashless {args[0]} failed: {done.stderr[-2000:]}")
        return done

    def measure(self, what: str, run: Callable[[], Any]) -> Any:
        """Run one measurement; a failure is recorded and the benchmark goes on."""
        try:
            return run()
        except Exception as exc:  # a broken contender must not stop the others
            message = f"{what}: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            say(f"FAILED {message}")
            return None

    # -- dataset

    def load_dataset(self) -> Dataset:
        p = self.plan
        args: list[str] = [
            *("--seed", str(p.seed), "--days", str(p.days)),
            *("--events-per-day", str(p.events_per_day), "--end", END),
            *("--duplicates", str(p.duplicates), "--late", str(p.late)),
            *("--bad-records", str(p.bad_records)),
        ]
        directory = self.work / "dataset"
        directory.mkdir()
        say(f"simulating the dataset: cashless simulate {' '.join(args)}")
        self.cashless("simulate", *args, "--out", directory / "run.jsonl")
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        started = time.monotonic()
        self.cashless("simulate", *args, "--topic-prefix", prefix, "--no-truth")
        load_seconds = time.monotonic() - started
        truth = {
            (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
            for item in json.loads((directory / "run.truth.json").read_text())
        }
        applied = int(sum(v for (name, _), v in truth.items() if name == "cashless_payments_total"))
        dataset = Dataset(
            prefix, directory / "run.jsonl", directory / "run.districts.csv", truth, applied
        )
        dataset.load_seconds = load_seconds
        with dataset.file.open("rb") as lines:
            for line in lines:
                if b'"holder"' in line:
                    dataset.file_account_lines += 1
                else:
                    dataset.file_payment_lines += 1
        say(
            f"dataset in Kafka under {prefix} in {load_seconds:.1f} s: "
            f"{dataset.file_payment_lines:,} payment lines "
            f"({applied:,} applied in the ground truth), {dataset.file_account_lines:,} accounts"
        )
        return dataset

    # -- contenders

    def contender(
        self, name: str, command: Sequence[str | Path], result: Path, env: dict[str, str]
    ) -> dict[str, Any]:
        """Run a contender process until it writes its result file (then it exits by itself)."""
        timeout = self.plan.cap_seconds + 180
        start = time.time()
        proc = self.procs.start(name, command, env)
        try:
            wait_until(
                lambda: result.exists() or proc.popen.poll() is not None,
                timeout,
                f"{name} to finish",
            )
            if not result.exists():
                raise RuntimeError(f"{name} exited with {proc.popen.returncode}: {proc.tail()}")
        finally:
            self.procs.stop(proc, grace=5)  # it normally exits by itself; Faust stops slowly
        report: dict[str, Any] = json.loads(result.read_text())
        report["start"] = start
        report["seconds"] = report["done"] - report["first"]
        report["startup_seconds"] = report["first"] - start
        report["events_per_s"] = report["events"] / max(report["seconds"], 1e-9)
        report["wall_events_per_s"] = report["events"] / (report["done"] - start)
        return report

    def census(self, dataset: Dataset) -> None:
        """An untimed ceiling run: counts the topic's events and records, and warms the cache."""
        report = self.run_ceiling(dataset, "census")
        dataset.events = int(report["events"])
        dataset.records = int(report["records"])
        say(
            f"census: {dataset.records:,} records holding {dataset.events:,} payment events "
            f"({report['rejected']:,} of them rejected by the decoder)"
        )

    def run_ceiling(self, dataset: Dataset, tag: str) -> dict[str, Any]:
        result = self.work / f"ceiling-{tag}.json"
        command: list[str | Path] = [
            sys.executable,
            BENCH / "ceiling.py",
            *("--bootstrap", self.bootstrap, "--topic-prefix", dataset.prefix),
            *("--group", f"ceiling-{tag}-{uuid.uuid4().hex[:6]}", "--result", result),
        ]
        return self.contender(f"ceiling-{tag}", command, result, self.env(dataset))

    def run_naive(self, dataset: Dataset, tag: str) -> dict[str, Any]:
        result = self.work / f"naive-{tag}.json"
        command: list[str | Path] = [
            sys.executable,
            BENCH / "naive_faust.py",
            *("--bootstrap", self.bootstrap, "--topic-prefix", dataset.prefix),
            *("--app-id", f"naive-{tag}-{uuid.uuid4().hex[:6]}"),
            *("--datadir", self.work / f"naive-{tag}"),
            *self.window_args(dataset),
            *("--result", result),
        ]
        return self.contender(f"naive-{tag}", command, result, self.env(dataset))

    def run_peer(self, dataset: Dataset, tag: str) -> dict[str, Any]:
        if self.peer_python is None or not self.peer_python.exists():
            raise RuntimeError(
                f"no Python with quixstreams at {self.peer_python}: run `make bench`, which "
                "creates .venv/bench-peer"
            )
        result = self.work / f"peer-{tag}.json"
        command: list[str | Path] = [
            self.peer_python,
            BENCH / "quix_peer.py",
            *("--bootstrap", self.bootstrap, "--topic-prefix", dataset.prefix),
            *("--group", f"peer-{tag}-{uuid.uuid4().hex[:6]}"),
            *("--state-dir", self.work / f"peer-{tag}"),
            *self.window_args(dataset),
            *("--result", result),
        ]
        return self.contender(f"peer-{tag}", command, result, self.env(dataset))

    def window_args(self, dataset: Dataset) -> list[str]:
        p = self.plan
        return [
            *("--window-minutes", str(p.window_minutes), "--step-minutes", str(p.step_minutes)),
            *("--expect", str(dataset.events), "--cap", str(p.cap_seconds)),
        ]

    def start_worker(self, tag: str, prefix: str, env: dict[str, str]) -> tuple[Proc, int]:
        port = free_port()
        command: list[str | Path] = [
            sys.executable,
            *("-m", "cli", "worker", "--topic-prefix", prefix),
            *("--app-id", f"ours-{tag}-{uuid.uuid4().hex[:6]}", "--web-port", str(port)),
            *("--state-dir", self.work / f"ours-{tag}"),
        ]
        return self.procs.start(f"ours-{tag}", command, env), port

    def run_ours(self, dataset: Dataset, tag: str, profile: Path | None = None) -> dict[str, Any]:
        """`cashless worker` from an empty state until /metrics shows every applied payment;
        with `profile`, sampled by py-spy into that file from the first applied payment on."""
        start = time.time()
        proc, port = self.start_worker(tag, dataset.prefix, self.env(dataset))
        profiler: subprocess.Popen[bytes] | None = None
        try:
            first: float | None = None
            applied_first = 0.0
            done: float | None = None
            deadline = start + self.plan.ours_timeout
            while time.time() < deadline:
                if proc.popen.poll() is not None:
                    raise RuntimeError(f"worker exited with {proc.popen.returncode}: {proc.tail()}")
                text = scrape(self.http, port)
                now = time.time()
                applied = sum(payments_by_segment(text).values()) if text else 0.0
                if applied and first is None:
                    first, applied_first = now, applied
                    if profile is not None:
                        profiler = start_profiler(proc, profile)
                if applied >= dataset.applied:
                    done = now
                    break
                time.sleep(self.plan.poll_seconds)
            if first is None or done is None:
                raise TimeoutError(
                    f"worker did not reach {dataset.applied:,} applied payments in "
                    f"{self.plan.ours_timeout:.0f} s: {proc.tail()}"
                )
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                profiler.wait(timeout=60)
            cpu, rss = proc.cpu_seconds(), proc.peak_rss_mb()
            mismatches = self._truth_differences(port, dataset)
        finally:
            if profiler is not None and profiler.poll() is None:
                profiler.kill()
            self.procs.stop(proc)
        seconds = done - first
        # The events applied before the first poll that shows progress are not counted, nor is
        # their time: the share of the dataset applied between the two polls, over their interval.
        share = (dataset.applied - applied_first) / dataset.applied
        return {
            "start": start,
            "first": first,
            "done": done,
            "seconds": seconds,
            "startup_seconds": first - start,
            "events": dataset.events,
            "applied": dataset.applied,
            "applied_at_first_poll": applied_first,
            "events_per_s": dataset.events * share / max(seconds, 1e-9),
            "wall_events_per_s": dataset.events / (done - start),
            "cpu_s": cpu,
            "rss_peak_mb": rss,
            "truth_differences": mismatches,
            "poll_seconds": self.plan.poll_seconds,
        }

    def _truth_differences(self, port: int, dataset: Dataset) -> int | None:
        """Series of /metrics that differ from the ground truth, once the city-wide series (which
        follow the partition summaries) have had up to 30 s to settle; None without /metrics."""
        found: int | None = None

        def equal() -> bool:
            nonlocal found
            text = scrape(self.http, port)
            found = None if text is None else differences(samples(text), dataset.truth)
            return found == 0

        with contextlib.suppress(TimeoutError):
            wait_until(equal, 30, "the ground truth", every=1.0)
        return found

    def throughput(self, dataset: Dataset) -> None:
        runners: dict[str, Callable[[Dataset, str], dict[str, Any]]] = {
            "ceiling": self.run_ceiling,
            "naive": self.run_naive,
            "peer": self.run_peer,
            "ours": self.run_ours,
        }
        wanted = [name for name in CONTENDERS if name in self.only]
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
        for rep in range(1, self.plan.reps + 1):
            for name in wanted:
                say(f"throughput {rep}/{self.plan.reps}: {name}")
                report = self.measure(
                    f"{name} run {rep}", functools.partial(runners[name], dataset, f"r{rep}")
                )
                if report is not None:
                    runs[name].append(report)
                    say(
                        f"  {name}: {report['events']:,} events in {report['seconds']:.2f} s = "
                        f"{report['events_per_s']:,.0f} events/s (start-up "
                        f"{report['startup_seconds']:.1f} s, CPU {report['cpu_s']:.1f} s, "
                        f"peak RSS {report['rss_peak_mb']:.0f} MB"
                        + (", capped" if report.get("capped") else "")
                        + (
                            f", ground truth differences {report['truth_differences']}"
                            if "truth_differences" in report
                            else ""
                        )
                        + ")"
                    )
        summary: dict[str, Any] = {}
        for name, reports in runs.items():
            summary[name] = {
                "runs": reports,
                **{
                    metric: spread([r[metric] for r in reports])
                    for metric in (
                        "events_per_s",
                        "wall_events_per_s",
                        "cpu_s",
                        "rss_peak_mb",
                        "seconds",
                        "startup_seconds",
                        "events",
                    )
                },
            }
        ours = (summary.get("ours") or {}).get("events_per_s")
        ratios = {}
        for other in ("ceiling", "naive", "peer"):
            theirs = (summary.get(other) or {}).get("events_per_s")
            if ours and theirs:
                ratios[f"ours/{other}"] = ours["median"] / theirs["median"]
        self.results["throughput"] = summary
        self.results["ratios"] = ratios
        if "ours" in wanted:
            say("profile: one more run of ours, sampled by py-spy (not counted)")
            profiled = functools.partial(self.run_ours, dataset, "profiled", PROFILE)
            if self.measure("ours profiled", profiled) is not None:
                self.results["profile"] = self.measure("profile", time_by_part)

    # -- latency

    def latency(self) -> None:
        p = self.plan
        runs = []
        for rep in range(1, p.live_reps + 1):
            say(f"latency {rep}/{p.live_reps}: {p.live_rate:,} events/s for {p.live_seconds:.0f} s")
            report = self.measure(
                f"latency run {rep}", functools.partial(self.run_latency, f"l{rep}")
            )
            if report is not None:
                runs.append(report)
                say(
                    f"  p50 {report['p50_ms']:.0f} ms, p99 {report['p99_ms']:.0f} ms, "
                    f"max {report['max_ms']:.0f} ms over {report['events']:,} events "
                    f"({report['missing']:,} never visible)"
                )
        self.results["latency"] = {
            "rate": p.live_rate,
            "seconds": p.live_seconds,
            "poll_seconds": p.live_poll_seconds,
            "runs": runs,
            **{m: spread([r[m] for r in runs]) for m in ("p50_ms", "p99_ms", "max_ms")},
        }

    def run_latency(self, tag: str) -> dict[str, Any]:
        p = self.plan
        prefix = f"live{tag}{uuid.uuid4().hex[:6]}."
        ensure_topics(self.bootstrap, Topics(prefix))
        proc, port = self.start_worker(tag, prefix, self.env())
        try:
            wait_until(lambda: scrape(self.http, port), 120, "the worker's /metrics")
            # Warm-up: the worker has joined the group and applies events before the clock starts.
            self.live_load(f"{tag}-warm", prefix, rate=500, seconds=2)
            wait_until(
                lambda: sum(payments_by_segment(scrape(self.http, port) or "").values()) >= 1000,
                120,
                "the warm-up events in /metrics",
            )
            baseline = payments_by_segment(scrape(self.http, port) or "")
            log = self.work / f"live-{tag}.log"
            producer = self.procs.start(
                f"live-{tag}",
                [
                    sys.executable,
                    BENCH / "live_load.py",
                    *("--bootstrap", self.bootstrap, "--topic-prefix", prefix),
                    *("--rate", str(p.live_rate), "--duration", str(p.live_seconds)),
                    *("--log", log, "--tag", f"{tag}-live"),
                ],
                self.env(),
            )
            polls: list[tuple[float, dict[str, float]]] = []
            finished: float | None = None
            wanted: dict[str, int] = {}
            while True:
                text = scrape(self.http, port)
                if text is not None:
                    polls.append((time.time(), payments_by_segment(text)))
                if finished is None and producer.popen.poll() is not None:
                    if producer.popen.returncode != 0:
                        raise RuntimeError(f"live load failed: {producer.tail()}")
                    finished = time.time()
                    wanted = self._sent_per_key(log)
                if finished is not None and polls:
                    now = polls[-1][1]
                    if time.time() - finished > 30 or all(
                        now.get(k, 0) - baseline.get(k, 0) >= n for k, n in wanted.items()
                    ):
                        break
                time.sleep(p.live_poll_seconds)
            cpu, rss = proc.cpu_seconds(), proc.peak_rss_mb()
        finally:
            self.procs.stop(proc)
        return {**self._latencies(log, baseline, polls), "cpu_s": cpu, "rss_peak_mb": rss}

    def live_load(self, tag: str, prefix: str, rate: float, seconds: float) -> None:
        log = self.work / f"live-{tag}.log"
        done = subprocess.run(
            [
                sys.executable,
                BENCH / "live_load.py",
                *("--bootstrap", self.bootstrap, "--topic-prefix", prefix),
                *("--rate", str(rate), "--duration", str(seconds), "--log", log, "--tag", tag),
            ],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"live load failed: {done.stderr[-2000:]}")

    @staticmethod
    def _sent(log: Path) -> list[tuple[float, str, int]]:
        sent = []
        for line in log.read_text().splitlines():
            at, key, count = line.split()
            sent.append((float(at), key, int(count)))
        return sent

    def _sent_per_key(self, log: Path) -> dict[str, int]:
        wanted: dict[str, int] = defaultdict(int)
        for _, key, count in self._sent(log):
            wanted[key] += count
        return wanted

    def _latencies(
        self, log: Path, baseline: dict[str, float], polls: list[tuple[float, dict[str, float]]]
    ) -> dict[str, Any]:
        """Each event's latency: from the send() of its record to the first /metrics response
        whose count for its segment includes it (a segment is read in order)."""
        by_key: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
        cumulative: dict[str, int] = defaultdict(int)
        sent = self._sent(log)
        counted_from = sent[0][0] + self.plan.live_skip_seconds if sent else 0.0
        for at, key, count in sent:
            cumulative[key] += count
            by_key[key].append((at, cumulative[key], count))
        latencies: list[float] = []
        missing = 0
        for key, records in by_key.items():
            seen = [(t, counts.get(key, 0) - baseline.get(key, 0)) for t, counts in polls]
            i = 0
            for at, upto, count in records:
                while i < len(seen) and (seen[i][1] < upto or seen[i][0] < at):
                    i += 1
                if at < counted_from:
                    continue
                if i == len(seen):
                    missing += count
                else:
                    latencies.extend([seen[i][0] - at] * count)
        latencies.sort()
        if not latencies:
            raise RuntimeError("no event became visible in /metrics")
        return {
            "events": len(latencies) + missing,
            "skipped_first_seconds": self.plan.live_skip_seconds,
            "missing": missing,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "max_ms": latencies[-1] * 1000,
            "polls": len(polls),
        }

    # -- producers

    def replay(self, dataset: Dataset) -> None:
        runs = []
        for rep in range(1, self.plan.reps + 1):
            say(f"replay {rep}/{self.plan.reps}: cashless replay ({dataset.file.name})")
            report = self.measure(f"replay run {rep}", lambda: self.run_replay(dataset.file))
            if report is not None:
                runs.append(report)
                say(
                    f"  {report['lines']:,} lines in {report['seconds']:.2f} s: "
                    f"{report['events_per_s']:,.0f} accepted events/s "
                    f"({report['wall_lines_per_s']:,.0f} lines/s with start-up)"
                )
        self.results["replay"] = {
            "runs": runs,
            **{m: spread([r[m] for r in runs]) for m in ("events_per_s", "wall_lines_per_s")},
        }

    def run_replay(self, path: Path) -> dict[str, Any]:
        prefix = f"replay{uuid.uuid4().hex[:6]}."
        started = time.monotonic()
        done = self.cashless("replay", path, "--topic-prefix", prefix, "--no-progress")
        wall = time.monotonic() - started
        output = done.stdout + done.stderr
        head = re.search(r": (\d+) records .* in ([0-9.]+) s", output)
        accepted = re.search(r"accepted: (\d+) payment events, (\d+) account events", output)
        if head is None or accepted is None:
            raise RuntimeError(f"unexpected replay output: {output[-1000:]}")
        lines, seconds = int(head.group(1)), float(head.group(2))
        events = int(accepted.group(1)) + int(accepted.group(2))
        return {
            "lines": lines,
            "events": events,
            "seconds": seconds,
            "wall_seconds": wall,
            "events_per_s": events / seconds,
            "wall_lines_per_s": lines / wall,
        }

    def gateway(self) -> None:
        p = self.plan
        tokens = self.work / "gateway-tokens.json"
        token = self.cashless("gateway", "token", "add", "hawaco", "--tokens-file", tokens)
        port = free_port()
        prefix = f"gw{uuid.uuid4().hex[:6]}."
        ensure_topics(self.bootstrap, Topics(prefix))
        proc = self.procs.start(
            "gateway",
            [
                sys.executable,
                *("-m", "cli", "gateway", "--port", str(port)),
                *("--tokens-file", tokens, "--topic-prefix", prefix),
            ],
            self.env(),
        )
        runs = []
        try:
            wait_until(lambda: self._ready(f"http://127.0.0.1:{port}/readyz"), 60, "the gateway")
            for rep in range(1, p.reps + 1):
                say(
                    f"gateway {rep}/{p.reps}: {p.gateway_requests} requests of "
                    f"{p.gateway_batch} events, {p.gateway_concurrency} connections"
                )
                report = self.measure(
                    f"gateway run {rep}",
                    functools.partial(self.run_gateway, port, token.stdout.strip(), f"r{rep}"),
                )
                if report is not None:
                    runs.append(report)
                    say(
                        f"  {report['events_per_s']:,} events/s, {report['requests_per_s']} "
                        f"requests/s, p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms, "
                        f"statuses {report['statuses']}"
                    )
            cpu, rss = proc.cpu_seconds(), proc.peak_rss_mb()
        finally:
            self.procs.stop(proc)
        self.results["gateway"] = {
            "batch": p.gateway_batch,
            "requests": p.gateway_requests,
            "concurrency": p.gateway_concurrency,
            "gateway_cpu_s": cpu,
            "gateway_rss_peak_mb": rss,
            "runs": runs,
            **{
                m: spread([r[m] for r in runs])
                for m in ("events_per_s", "requests_per_s", "p50_ms", "p99_ms")
            },
        }

    def _ready(self, url: str) -> bool:
        try:
            return self.http.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def run_gateway(self, port: int, token: str, tag: str) -> dict[str, Any]:
        p = self.plan
        done = subprocess.run(
            [
                sys.executable,
                *("-m", "tests.integration.test_gateway", "--url", f"http://127.0.0.1:{port}"),
                *("--token", token, "--requests", str(p.gateway_requests)),
                *("--batch", str(p.gateway_batch), "--concurrency", str(p.gateway_concurrency)),
                *("--tag", f"bench-{tag}-{uuid.uuid4().hex[:6]}"),
            ],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if report["statuses"] != {"202": p.gateway_requests}:
            raise RuntimeError(f"not every request was accepted: {report['statuses']}")
        return report

    # -- the whole run

    def run(self) -> None:
        say(f"starting the stack under {self.work}")
        self.stack.up(progress=say)
        dataset = self.load_dataset()
        self.census(dataset)
        self.results["dataset"] = {
            "prefix": dataset.prefix,
            "seed": self.plan.seed,
            "days": self.plan.days,
            "events_per_day": self.plan.events_per_day,
            "end": END,
            "duplicates": self.plan.duplicates,
            "late": self.plan.late,
            "bad_records": self.plan.bad_records,
            "records": dataset.records,
            "payment_events": dataset.events,
            "applied_payments": dataset.applied,
            "file_payment_lines": dataset.file_payment_lines,
            "file_account_lines": dataset.file_account_lines,
            "load_seconds": dataset.load_seconds,
        }
        if self.only & set(CONTENDERS):
            self.throughput(dataset)
        if "latency" in self.only:
            self.latency()
        if "replay" in self.only:
            self.replay(dataset)
        if "gateway" in self.only:
            self.measure("gateway", self.gateway)

    def close(self) -> None:
        self.procs.stop_all()
        self.http.close()
        with contextlib.suppress(Exception):
            self.stack.down(purge=True, progress=say)


def time_by_part() -> dict[str, Any]:
    """`bench/time_by_part.py` on the profiled run's stacks."""
    command = [sys.executable, "-m", "bench.time_by_part", str(PROFILE)]
    found: dict[str, Any] = json.loads(
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    )
    return found


def start_profiler(proc: Proc, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `proc` into `out` (raw collapsed stacks: one line per stack with its
    sample count, which `flamegraph.pl` and speedscope read) until it gets SIGINT."""
    out.parent.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "--pid", str(proc.popen.pid), "--format", "raw"]
    return subprocess.Popen(
        [*command, "--rate", "250", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- the report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mhz = re.findall(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_model": models[0] if models else platform.processor(),
        "logical_cpus": os.cpu_count(),
        "cpu_mhz": float(mhz[0]) if mhz else None,
        "memory_gib": round(int(memory.group(1)) / 1024**2, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "kafka_python": version("kafka-python"),
    }


def peer_version(peer_python: Path | None) -> str | None:
    if peer_python is None or not peer_python.exists():
        return None
    done = subprocess.run(
        [str(peer_python), "-c", "import quixstreams; print(quixstreams.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _fmt(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    if not s:
        return "—"
    f = f"{{:,.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"]) + unit
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def markdown(results: dict[str, Any]) -> str:
    m, d, plan = results["machine"], results["dataset"], results["plan"]
    t = results.get("throughput", {})
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{results['command']}` (`bench/pipeline.py`) on "
        f"{results['finished_at'][:16].replace('T', ' ')} UTC at commit "
        f"`{results['git']['commit'][:12]}`"
        + (" with uncommitted changes" if results["git"]["dirty"] else "")
        + f"; every figure below comes from that one run ({plan['reps']} "
        + ("repetitions: median, with min–max in brackets" if plan["reps"] > 1 else "repetition")
        + "). The raw figures, each repetition included, are in "
        f"`{results['results_file']}`, to compare between commits.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cpus']} logical CPUs"
        + (f" at {m['cpu_mhz']:.0f} MHz" if m.get("cpu_mhz") else "")
        + " (`/proc/cpuinfo`); memory "
        f"{m['memory_gib']} GiB (`/proc/meminfo`); Linux {m['kernel']}",
        f"- Python {m['python']}; Kafka {m['kafka']} (the local single-node KRaft broker of "
        f"`ops/stack.py`, on the same machine); faust-streaming {m['faust_streaming']}, "
        f"aiokafka {m['aiokafka']}, kafka-python {m['kafka_python']}, "
        f"quixstreams {m.get('quixstreams')}",
        "- The machine is shared with other jobs, so figures move between runs; compare "
        "runs of the same machine only.",
        "",
        "## Command",
        "",
        "```sh",
        results["command"],
        "```",
        "",
        "It installs what it needs (`make install`, and `.venv/bench-peer` with the `bench` extra: "
        "Quix Streams caps pydantic below the project's version, so the peer runs in its own "
        "virtualenv), starts the stack on free ports in a temporary directory, and stops every "
        "process and the stack at the end. `make bench BENCH_QUICK=1` is a small run for "
        "development (written to `.cashless/bench/quick.json` only).",
        "",
        "## Dataset",
        "",
        f"`cashless simulate --seed {d['seed']} --days {d['days']} --events-per-day "
        f"{d['events_per_day']} --end {d['end']} --duplicates {d['duplicates']} --late "
        f"{d['late']} --bad-records {d['bad_records']}`, sent into Kafka once "
        f"({d['load_seconds']:.0f} s) in {d['records']:,} records (up to 500 events per record, "
        f"one key per record): {d['payment_events']:,} payment events on `payments.events` "
        f"(valid, duplicate, late and bad), of which {d['applied_payments']:,} are applied in the "
        f"ground truth, and {d['file_account_lines']:,} account events on `payments.accounts`. "
        "Every contender reads the same `payments.events` topic from the beginning with its own "
        "consumer group; events/s counts all its payment events.",
        "",
        "## Throughput: one process each",
        "",
        "| contender | what it does | events/s | events/s incl. start-up | CPU s | peak RSS MB |"
        " events per run |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    what = {
        "ceiling": "aiokafka loop, project decoder, dict counters; no state, no guarantees",
        "naive": f"Faust agent, 2 hopping tables ({plan['window_minutes']} min windows every "
        f"{plan['step_minutes']} min, event time), memory store, per-event writes",
        "peer": f"Quix Streams: hopping window ({plan['window_minutes']} min every "
        f"{plan['step_minutes']} min, event time), Count + Sum per key, RocksDB + changelog",
        "ours": "`cashless worker`: validation, DLQ, dedup, late rule, 4 windows (1h–30d), "
        "coverage, trend, changelogged RocksDB state, /metrics",
    }
    for name in CONTENDERS:
        s = t.get(name)
        if not s or not s.get("runs"):
            lines.append(f"| {name} | {what[name]} | not measured | | | | |")
            continue
        lines.append(
            f"| {name} | {what[name]} | {_fmt(s['events_per_s'])} | "
            f"{_fmt(s['wall_events_per_s'])} | {_fmt(s['cpu_s'], 1)} | {_fmt(s['rss_peak_mb'])} | "
            f"{_fmt(s['events'])} |"
        )
    ratios = results.get("ratios", {})
    lines += [
        "",
        "Ratios of the medians: "
        + (", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()) or "none (missing runs)")
        + ".",
        "",
        "- *events/s* is from the process's first record to its end. *incl. start-up* also "
        "counts the time from the process start (interpreter, group join, Faust/Quix start-up).",
        "- The ceiling, naive and peer processes time themselves (`time.time()` at their first "
        "record and at the end, `getrusage` for CPU and peak RSS). They stop at the last event or "
        f"after {plan['cap_seconds']:.0f} s of processing, whichever is first, so the slow ones "
        "are measured on the beginning of the topic.",
        "- `ours` is timed from outside: its `/metrics` is polled every "
        f"{plan['poll_seconds']} s; its start is the first poll showing an applied payment, "
        "the end is the first poll where `cashless_payments_total` summed equals the ground "
        "truth (so the end is up to one poll interval late); events/s is the share of the "
        "dataset's applied payments applied between those two polls, times its events, over "
        "the time between them. "
        "CPU (utime+stime) and peak RSS (VmHWM) are read from `/proc` at that moment. After "
        "that the whole `/metrics` is compared with the ground truth: "
        + ", ".join(
            f"run {i}: {r.get('truth_differences')} differences"
            for i, r in enumerate((t.get("ours") or {}).get("runs", []), start=1)
        )
        + ".",
        "- The naive and peer jobs compute one window per segment; `ours` computes four "
        "windows per segment and per district and city, and more besides, so the comparison "
        "flatters them.",
        "",
    ]
    lines += profile_section(results.get("profile"), t.get("ours"))
    lat = results.get("latency")
    if lat:
        lines += [
            "## Latency: produce → visible in `/metrics`",
            "",
            "A `cashless worker` on fresh topics, warmed up, then "
            f"{lat['rate']:,} payment events/s for {lat['seconds']:.0f} s from "
            "`bench/live_load.py` (a second process, the "
            "project's Kafka producer, events of random segments grouped per key every 0.1 s "
            f"like `cashless simulate --rate`), while `/metrics` is polled every "
            f"{lat['poll_seconds']} s.",
            "",
            "| p50 ms | p99 ms | max ms | runs |",
            "| ---: | ---: | ---: | ---: |",
            f"| {_fmt(lat['p50_ms'])} | {_fmt(lat['p99_ms'])} | {_fmt(lat['max_ms'])} | "
            f"{len(lat['runs'])} |",
            "",
            "An event's latency runs from the `send()` of its Kafka record to the first `/metrics` "
            "response whose `cashless_payments_total` for its segment (summed over methods) "
            "includes it: a segment is one record key, so one partition, applied in order. The "
            f"poll interval bounds the resolution (each figure is up to {lat['poll_seconds']} s "
            "high).",
            "",
        ]
    rp, gw = results.get("replay"), results.get("gateway")
    if rp or gw:
        lines += [
            "## Producers into Kafka",
            "",
            "| producer | events/s | detail |",
            "| --- | ---: | --- |",
        ]
        if rp:
            lines.append(
                f"| `cashless replay` (the dataset file) | {_fmt(rp['events_per_s'])} | "
                "accepted events by replay's own clock; "
                f"{_fmt(rp['wall_lines_per_s'])} lines/s with process start-up |"
            )
        if gw:
            lines.append(
                f"| `cashless gateway`, batches of {gw['batch']} | {_fmt(gw['events_per_s'])} | "
                f"{_fmt(gw['requests_per_s'], 1)} requests/s from {gw['concurrency']} connections "
                f"of a second process; request p50 {_fmt(gw['p50_ms'])} ms, p99 "
                f"{_fmt(gw['p99_ms'])} ms |"
            )
        lines.append("")
    lines += [
        "## Against the performance targets",
        "",
        "| target | measured (median) | met |",
        "| --- | ---: | --- |",
    ]
    for row in results.get("targets", []):
        value = row["measured"]
        shown = "—" if value is None else (f"{value:,.2f}" if value < 100 else f"{value:,.0f}")
        met = {True: "yes", False: "no", None: "not measured"}[row["met"]]
        lines.append(f"| {row['target']} | {shown} | {met} |")
    lines += [
        "",
        "Measured apart from `make bench`, each with its own command: the cost of the window "
        "length, by the payment ledger alone with the running sums of all four windows against "
        "the 1-hour one only (`.venv/bin/python -m bench.ledger_cpu FILE --reps 5 [--windows "
        "1h]` on the dataset above written with `--out`); what the payment ledger holds in "
        "memory for 500 segments over 30 days (`.venv/bin/python -m bench.ledger_memory`); and "
        "the worker's RSS with N account holders and S segments of payments, which takes "
        "minutes (`.venv/bin/python -m bench.coverage_memory 2000000 --segments 500 --days 30`).",
        "",
    ]
    if results.get("errors"):
        lines += ["## Failed measurements", ""]
        lines += [f"- {e}" for e in results["errors"]]
        lines.append("")
    return "\n".join(lines)


def profile_section(profile: dict[str, Any] | None, ours: dict[str, Any] | None) -> list[str]:
    """Where the profiled run of ours spent its time, by part."""
    if not profile or not profile.get("samples"):
        return []
    rate = (ours or {}).get("events_per_s") or {}
    lines = [
        "## Where ours spends its time",
        "",
        "One more run of `ours` on the same dataset, not counted above, sampled by py-spy (250 "
        "samples/s of the worker's Python threads) from its first applied payment to the poll "
        f"that saw the last: {profile['samples']:,} samples, in "
        "`.cashless/bench/ours-profile.txt` (collapsed stacks, for `flamegraph.pl` or "
        "speedscope). A sample goes to the part of its innermost frame that belongs to one "
        "(`bench/time_by_part.py`): the time in msgspec and RocksDB, native code, goes to the "
        "project's function that called them.",
        "",
        "| part | share of samples | its top functions (share of all samples) |",
        "| --- | ---: | --- |",
    ]
    for part in profile["parts"]:
        top = "; ".join(f"`{f['function']}` {f['share']:.1%}" for f in part["top"])
        lines.append(f"| {part['part']} | {part['share']:.1%} | {top} |")
    if rate.get("median"):
        per_event = 1e6 / rate["median"]
        lines += [
            "",
            f"At the median rate above, one event costs {per_event:.1f} µs of the worker's "
            "time; each part's share of it is its share of the samples.",
        ]
    lines.append("")
    return lines


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured figures against the performance targets (medians; None = not measured)."""

    def median(*path: str) -> float | None:
        node: Any = results
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node.get("median") if isinstance(node, dict) else None

    ratios = results.get("ratios", {})
    latency = results.get("latency") or {}
    rows = [
        ("one worker ≥ 50,000 events/s", median("throughput", "ours", "events_per_s"), 50_000),
        ("ours ≥ 0.2 × the ceiling", ratios.get("ours/ceiling"), 0.2),
        ("ours ≥ 10 × the naive Faust baseline", ratios.get("ours/naive"), 10),
        ("ours ahead of the Quix Streams peer", ratios.get("ours/peer"), 1),
        (
            f"p99 produce → /metrics ≤ 1,000 ms at {latency.get('rate', 0):,} events/s",
            median("latency", "p99_ms"),
            -1000,  # at most
        ),
        ("replay ≥ 50,000 events/s", median("replay", "events_per_s"), 50_000),
        ("gateway ≥ 20,000 events/s in batches of 500", median("gateway", "events_per_s"), 20_000),
    ]
    return [
        {
            "target": name,
            "measured": value,
            "met": None if value is None else (value <= -bound if bound < 0 else value >= bound),
        }
        for name, value, bound in rows
    ]


def compare(previous: Path, results: dict[str, Any]) -> None:
    """Print the change of each median against the previous results file."""
    if not previous.exists():
        return
    old = json.loads(previous.read_text())
    say(f"against {previous.name} (commit {old.get('git', {}).get('commit', '?')[:12]}):")
    for name in CONTENDERS:
        before = ((old.get("throughput") or {}).get(name) or {}).get("events_per_s")
        after = ((results.get("throughput") or {}).get(name) or {}).get("events_per_s")
        if before and after:
            say(f"  {name}: {after['median'] / before['median']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small dataset, one repetition")
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=ROOT / ".venv" / "bench-peer" / "bin" / "python",
        help="a Python with quixstreams and this project installed",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if only - set(PARTS):
        parser.error(f"unknown parts: {sorted(only - set(PARTS))}")
    plan = QUICK if args.quick else FULL
    command = "make bench" + (" BENCH_QUICK=1" if args.quick else "")
    if only != set(PARTS):
        command = f".venv/bin/python bench/pipeline.py {' '.join(argv or sys.argv[1:])}"
    work = Path(tempfile.mkdtemp(prefix="cashless-bench-"))
    bench = Bench(plan, work, args.peer_python, only)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        bench.run()
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        return 130
    finally:
        bench.close()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results: dict[str, Any] = {
        "version": 1,
        "command": command,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine(), "quixstreams": peer_version(args.peer_python)},
        "plan": asdict(plan),
        **bench.results,
        "errors": bench.errors,
    }
    results["targets"] = targets(results)
    # Only a whole run is the repository's record; quick and partial runs are for development,
    # and their figures stay out of it (.cashless/).
    complete = not args.quick and only == set(PARTS)
    development = ROOT / ".cashless" / "bench" / ("quick.json" if args.quick else "partial.json")
    out = RESULTS / "latest.json" if complete else development
    out.parent.mkdir(parents=True, exist_ok=True)
    results["results_file"] = str(out.relative_to(ROOT))
    compare(out, results)
    out.write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    if complete:
        DOCS.parent.mkdir(exist_ok=True)
        DOCS.write_text(report)
        say(f"wrote {out.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    else:
        say(f"wrote {out.relative_to(ROOT)}")
    print(report, flush=True)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
