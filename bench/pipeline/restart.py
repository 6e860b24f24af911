"""Catch-up after `kill -9`: a `cashless worker` killed with events still behind it, restarted on
its own local store, timed from the restart to the poll where /metrics shows every applied
payment of the ground truth (and then checked against the whole of it: nothing lost, nothing
counted twice)."""

from __future__ import annotations

import functools
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.harness.metrics import payments_by_segment, scrape
from bench.harness.processes import free_port, wait_until
from bench.harness.progress import say
from bench.harness.stats import spread
from bench.pipeline.context import Bench
from bench.pipeline.dataset import Dataset
from bench.pipeline.ours import start_worker, truth_differences

__all__ = ["BEHIND", "restart"]

BEHIND = 300_000  # payment events left for the restarted worker


def restart(bench: Bench, dataset: Dataset) -> None:
    """`reps` kill -9 and restarts; medians of the catch-up time and of the events behind."""
    behind = min(BEHIND, dataset.events * 2 // 3)
    runs = []
    for rep in range(1, bench.plan.reps + 1):
        say(f"restart {rep}/{bench.plan.reps}: kill -9 with about {behind:,} events behind")
        run = functools.partial(_run, bench, dataset, f"k{rep}", behind)
        report = bench.measure(f"restart run {rep}", run)
        if report is not None:
            runs.append(report)
            say(
                f"  caught up {report['events_behind']:,} events in {report['seconds']:.1f} s "
                f"(start-up {report['startup_seconds']:.1f} s), ground truth differences "
                f"{report['truth_differences']}"
            )
    bench.results["restart"] = {
        "behind": behind,
        "runs": runs,
        **{m: spread([r[m] for r in runs]) for m in ("seconds", "events_behind")},
    }


def _run(bench: Bench, dataset: Dataset, tag: str, behind: int) -> dict[str, Any]:
    app_id, port = f"ours-{tag}-{uuid.uuid4().hex[:6]}", free_port()
    env = bench.env(dataset)
    # Killed once the payments it has applied leave about `behind` of the dataset's events.
    kill_at = dataset.applied * (1 - behind / dataset.events)
    proc, _ = start_worker(bench, tag, dataset.prefix, env, app_id=app_id, port=port)
    try:
        applied = _poll(bench, proc, port, lambda n: n >= kill_at)
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait()
    finally:
        bench.procs.stop(proc)
    restarted = time.time()
    proc, _ = start_worker(bench, f"{tag}-again", dataset.prefix, env, app_id=app_id, port=port)
    try:
        _poll(bench, proc, port, lambda n: n > 0)
        first = time.time()
        _poll(bench, proc, port, lambda n: n >= dataset.applied)
        done = time.time()
        mismatches = truth_differences(bench, port, dataset)
    finally:
        bench.procs.stop(proc)
    return {
        "seconds": done - restarted,
        "startup_seconds": first - restarted,
        "events_behind": round(dataset.events * (1 - applied / dataset.applied)),
        "truth_differences": mismatches,
    }


def _poll(bench: Bench, proc: Any, port: int, reached: Callable[[float], bool]) -> float:
    """Poll /metrics until the applied payments, some at least, satisfy `reached`; their number
    then."""

    def applied() -> float | None:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.popen.returncode}: {proc.tail()}")
        text = scrape(bench.http, port)
        n = sum(payments_by_segment(text).values()) if text else 0.0
        return n if n > 0 and reached(n) else None

    found: float = wait_until(
        applied,
        bench.plan.ours_timeout,
        "the worker's applied payments",
        every=bench.plan.live_poll_seconds,
    )
    return found
