"""`cashless worker` as a contender: timed from outside by its /metrics, checked against the
ground truth, and once more sampled by py-spy to see where its time goes."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness.metrics import differences, payments_by_segment, samples, scrape
from bench.harness.paths import ROOT
from bench.harness.processes import Proc, free_port, wait_until
from bench.pipeline.context import Bench
from bench.pipeline.dataset import Dataset

__all__ = ["PROFILE", "run_ours", "start_worker", "time_by_part", "truth_differences"]

PROFILE = ROOT / ".cashless" / "bench" / "ours-profile.txt"  # py-spy's stacks of the last run


def start_worker(
    bench: Bench,
    tag: str,
    prefix: str,
    env: dict[str, str],
    *,
    app_id: str | None = None,
    port: int | None = None,
) -> tuple[Proc, int]:
    """A `cashless worker`, and the port of its /metrics: by default with a new app id and state
    directory; the same `app_id` and `port` again restart a worker on its own local store."""
    port = port or free_port()
    app_id = app_id or f"ours-{tag}-{uuid.uuid4().hex[:6]}"
    command: list[str | Path] = [
        sys.executable,
        *("-m", "cli", "worker", "--topic-prefix", prefix),
        *("--app-id", app_id, "--web-port", str(port)),
        *("--state-dir", bench.work / app_id),
    ]
    return bench.procs.start(f"ours-{tag}", command, env), port


def run_ours(
    bench: Bench, dataset: Dataset, tag: str, profile: Path | None = None
) -> dict[str, Any]:
    """`cashless worker` from an empty state until /metrics shows every applied payment;
    with `profile`, sampled by py-spy into that file from the first applied payment on."""
    start = time.time()
    proc, port = start_worker(bench, tag, dataset.prefix, bench.env(dataset))
    profiler: subprocess.Popen[bytes] | None = None
    try:
        first: float | None = None
        applied_first = 0.0
        done: float | None = None
        deadline = start + bench.plan.ours_timeout
        while time.time() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.popen.returncode}: {proc.tail()}")
            text = scrape(bench.http, port)
            now = time.time()
            applied = sum(payments_by_segment(text).values()) if text else 0.0
            if applied and first is None:
                first, applied_first = now, applied
                if profile is not None:
                    profiler = _start_profiler(proc, profile)
            if applied >= dataset.applied:
                done = now
                break
            time.sleep(bench.plan.poll_seconds)
        if first is None or done is None:
            raise TimeoutError(
                f"worker did not reach {dataset.applied:,} applied payments in "
                f"{bench.plan.ours_timeout:.0f} s: {proc.tail()}"
            )
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            profiler.wait(timeout=60)
        cpu, rss = proc.cpu_seconds(), proc.peak_rss_mb()
        mismatches = truth_differences(bench, port, dataset)
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        bench.procs.stop(proc)
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
        "poll_seconds": bench.plan.poll_seconds,
    }


def truth_differences(bench: Bench, port: int, dataset: Dataset) -> int | None:
    """Series of /metrics that differ from the ground truth, once the city-wide series (which
    follow the partition summaries) have had up to 30 s to settle; None without /metrics."""
    found: int | None = None

    def equal() -> bool:
        nonlocal found
        text = scrape(bench.http, port)
        found = None if text is None else differences(samples(text), dataset.truth)
        return found == 0

    with contextlib.suppress(TimeoutError):
        wait_until(equal, 30, "the ground truth", every=1.0)
    return found


def time_by_part() -> dict[str, Any]:
    """`bench/time_by_part.py` on the profiled run's stacks."""
    command = [sys.executable, "-m", "bench.time_by_part", str(PROFILE)]
    found: dict[str, Any] = json.loads(
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    )
    return found


def _start_profiler(proc: Proc, out: Path) -> subprocess.Popen[bytes]:
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
