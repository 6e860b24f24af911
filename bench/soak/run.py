"""One soak run: the stack, the simulator's live load, the worker's two lives, the samples."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness.local_stack import child_env, stack_settings
from bench.harness.metrics import (
    Series,
    applied_payments,
    differences,
    load_truth,
    samples,
    scrape,
)
from bench.harness.processes import Proc, Processes, free_port, wait_until
from bench.harness.progress import say
from bench.soak.checks import LAG_BOUND_SECONDS, Check, caught_up, flat_checks, lag_check
from bench.soak.sampling import GroupLag, Sample, counted, proc_status
from cashless.topics import Topics, ensure_topics
from ops.stack import Stack

__all__ = ["Soak"]

SAMPLE_SECONDS = 10.0
TRUTH_TIMEOUT = 300.0
# What the simulator mixes into the live stream, so that dedup, the late rule and the DLQ work
# through the restart too.
FAULTS = ("--duplicates", "0.02", "--late", "0.02", "--bad-records", "0.005")


@dataclass
class Soak:
    """One soak run: the stack, the simulator, the worker's lives, the samples."""

    minutes: float
    rate: float
    work: Path
    rows: list[Sample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.work / "logs")
        self.port = free_port()
        settings = stack_settings(
            self.work, worker_targets=f"127.0.0.1:{self.port}", scrape_interval="5s"
        )
        self.stack = Stack(settings)
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"
        self.prometheus = f"http://127.0.0.1:{settings.prometheus_port}"
        tag = uuid.uuid4().hex[:6]
        self.topics = Topics(f"soak{tag}.")
        self.app_id = f"soak-{tag}"
        self.districts = self.work / "run.districts.csv"
        self.truth_file = self.work / "run.truth.json"
        self.http = httpx.Client()
        self.lag: GroupLag | None = None

    def env(self) -> dict[str, str]:
        return child_env(self.bootstrap, self.districts)

    def start_simulator(self, seconds: float) -> Proc:
        command: list[str | Path] = [
            sys.executable,
            *("-m", "cli", "simulate", "--seed", "5", "--days", "30"),
            *("--rate", f"{self.rate:g}/s", "--duration", f"{seconds:g}s", *FAULTS),
            *("--topic-prefix", self.topics.prefix, "--truth", self.truth_file),
            *("--districts-out", self.districts),
        ]
        # without a district table: it writes the scaled table the worker reads
        return self.procs.start("simulate", command, child_env(self.bootstrap))

    def start_worker(self, life: int) -> Proc:
        """A worker on the same app id, port and state directory in every life."""
        command: list[str | Path] = [
            sys.executable,
            *("-m", "cli", "worker", "--topic-prefix", self.topics.prefix),
            *("--app-id", self.app_id, "--web-port", str(self.port)),
            *("--state-dir", self.work / "worker"),
        ]
        return self.procs.start(f"worker-{life}", command, self.env())

    def sample(self, t: float, life: int, sending: bool, worker: Proc) -> Sample:
        pid = worker.popen.pid
        rss, fds, sst_files = proc_status(pid)
        try:
            cpu: float | None = worker.cpu_seconds()
        except OSError:
            cpu = None
        lag = self.lag.read() if self.lag is not None else None
        row = Sample(
            t=round(t, 1),
            life=life,
            sending=sending,
            pid=pid,
            rss_mb=None if rss is None else round(rss, 1),
            fds=fds,
            sst_files=sst_files,
            cpu_s=cpu,
            lag_records=None if lag is None else lag[0],
            records_in=None if lag is None else lag[1],
            events_counted=counted(scrape(self.http, self.port)),
        )
        self.rows.append(row)
        say(
            f"t={row.t:6.0f} s life {life} RSS {row.rss_mb} MB, FDs {row.fds} "
            f"({row.sst_files} SST), lag {row.lag_records} of {row.records_in} records, "
            f"counted {row.events_counted}"
        )
        return row

    def run(self) -> None:
        seconds = self.minutes * 60
        say(f"starting the stack under {self.work}")
        self.stack.up(progress=say)
        ensure_topics(self.bootstrap, self.topics)
        partitions = self.topics.partitions()
        self.lag = GroupLag(
            self.bootstrap,
            self.app_id,
            {t: partitions[t] for t in (self.topics.events, self.topics.accounts)},
        )
        say(f"live load: {self.rate:g} events/s for {seconds:g} s into {self.topics.prefix}*")
        simulator = self.start_simulator(seconds)
        started = time.monotonic()
        wait_until(
            lambda: self.districts.exists() or simulator.popen.poll() is not None,
            60,
            "the simulator's district table",
        )
        life = 1
        worker = self.start_worker(life)
        killed_at = seconds / 2
        next_sample = 0.0
        while simulator.popen.poll() is None:
            t = time.monotonic() - started
            if life == 1 and t >= killed_at:
                self.sample(t, life, True, worker)
                say(f"kill -9 of the worker (pid {worker.popen.pid}) at t={t:.0f} s")
                worker.popen.send_signal(signal.SIGKILL)
                worker.popen.wait()
                killed_at = t
                life = 2
                worker = self.start_worker(life)
                say(f"worker started again (pid {worker.popen.pid})")
            if worker.popen.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.popen.returncode}")
            if t >= next_sample:
                self.sample(t, life, t < seconds, worker)
                next_sample += SAMPLE_SECONDS
            time.sleep(0.2)
        sent_seconds = time.monotonic() - started
        said = [line for line in simulator.tail().splitlines() if line.startswith("simulated")]
        self.checks.append(
            Check(
                "simulator",
                simulator.popen.returncode == 0,
                f"exit status {simulator.popen.returncode}; {said[-1] if said else 'no summary'}",
            )
        )
        if simulator.popen.returncode != 0:
            raise RuntimeError(f"the simulator exited with {simulator.popen.returncode}")
        truth = load_truth(self.truth_file)
        self.finish(truth, worker, life, started, min(sent_seconds, seconds), killed_at)

    def finish(
        self,
        truth: dict[Series, float],
        worker: Proc,
        life: int,
        started: float,
        seconds: float,
        killed_at: float,
    ) -> None:
        say(f"the simulator is done; waiting for /metrics to equal its {len(truth):,}-series truth")
        found: int | None = None
        next_sample = time.monotonic() - started

        def equal() -> bool:
            nonlocal found, next_sample
            t = time.monotonic() - started
            if t >= next_sample:
                self.sample(t, life, False, worker)
                next_sample = t + SAMPLE_SECONDS
            if worker.popen.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.popen.returncode}")
            text = scrape(self.http, self.port)
            found = None if text is None else differences(samples(text), truth)
            return found == 0

        waited = time.monotonic()
        with contextlib.suppress(TimeoutError):
            wait_until(equal, TRUTH_TIMEOUT, "the ground truth", every=2.0)
        took = time.monotonic() - waited
        self.checks.append(
            Check(
                "truth",
                found == 0,
                f"{found} of {len(truth):,} series differ after {took:.0f} s"
                if found
                else f"all {len(truth):,} series equal {took:.0f} s after the simulator's end",
            )
        )
        lag: tuple[int, int] | None = None

        def drained() -> bool:
            nonlocal lag
            lag = self.lag.read() if self.lag is not None else None
            return lag is not None and lag[0] == 0

        with contextlib.suppress(TimeoutError):
            wait_until(drained, 60, "the committed offsets", every=1.0)
        self.checks.append(
            Check(
                "lag_drained",
                lag is not None and lag[0] == 0,
                f"lag {lag[0] if lag else '—'} of {lag[1] if lag else '—'} records at the end",
            )
        )
        self.checks.append(self.prometheus_check(truth))
        records = max((s.records_in or 0) for s in self.rows)
        per_second = records / seconds
        self.checks.append(lag_check(self.rows, killed_at, LAG_BOUND_SECONDS * per_second))
        partitions = self.topics.partitions()  # one database per table and partition
        databases = partitions[self.topics.events] + partitions[self.topics.accounts]
        self.checks += flat_checks(self.rows, databases)
        payments = applied_payments(truth)
        self.figures.update(
            seconds=round(seconds, 1),
            killed_at=round(killed_at, 1),
            caught_up_seconds=caught_up(self.rows, killed_at),
            records=records,
            records_per_second=round(per_second, 1),
            applied_payments=payments,
            truth_series=len(truth),
        )

    def prometheus_check(self, truth: dict[Series, float]) -> Check:
        wanted = applied_payments(truth)
        seen: float | None = None

        def matches() -> bool:
            nonlocal seen
            try:
                answer = self.http.get(
                    f"{self.prometheus}/api/v1/query",
                    params={"query": "sum(cashless_payments_total)"},
                    timeout=10,
                ).json()
                result = answer["data"]["result"]
                seen = float(result[0]["value"][1]) if result else None
            except (httpx.HTTPError, KeyError, ValueError):
                seen = None
            return seen == wanted

        with contextlib.suppress(TimeoutError):
            wait_until(matches, 60, "Prometheus", every=2.0)
        return Check(
            "prometheus",
            seen == wanted,
            f"sum(cashless_payments_total) in Prometheus {seen}, in the truth {wanted:.0f}",
        )

    def close(self) -> None:
        self.procs.stop_all()
        self.http.close()
        if self.lag is not None:
            self.lag.close()
        try:
            self.stack.down(purge=True, progress=say)
        except Exception as exc:  # the stack's own processes must not outlive a failed run
            say(f"stopping the stack failed: {exc}")
