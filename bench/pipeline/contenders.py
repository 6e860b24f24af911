"""The contender processes of the throughput runs (bench/contenders/): started, awaited, timed.

The census is an untimed ceiling run that counts the topic's events and records for the others.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness.processes import wait_until
from bench.harness.progress import say
from bench.pipeline.context import Bench
from bench.pipeline.dataset import Dataset
from bench.pipeline.plan import PEERS

__all__ = ["census", "run_ceiling", "run_naive", "run_peer"]


def census(bench: Bench, dataset: Dataset) -> None:
    """An untimed ceiling run: counts the topic's events and records, and warms the cache."""
    report = run_ceiling(bench, dataset, "census")
    dataset.events = int(report["events"])
    dataset.records = int(report["records"])
    say(
        f"census: {dataset.records:,} records holding {dataset.events:,} payment events "
        f"({report['rejected']:,} of them rejected by the decoder)"
    )


def run_ceiling(bench: Bench, dataset: Dataset, tag: str) -> dict[str, Any]:
    group = ("--group", f"ceiling-{tag}-{uuid.uuid4().hex[:6]}")
    return _run(bench, dataset, "ceiling", tag, Path(sys.executable), "ceiling", *group)


def run_naive(bench: Bench, dataset: Dataset, tag: str) -> dict[str, Any]:
    p = bench.plan
    return _run(
        bench,
        dataset,
        "naive",
        tag,
        Path(sys.executable),
        "naive_faust",
        *("--app-id", f"naive-{tag}-{uuid.uuid4().hex[:6]}"),
        *("--datadir", bench.work / f"naive-{tag}"),
        *_window_args(p.window_minutes, p.step_minutes),
        *_bounds(bench, dataset),
    )


def run_peer(bench: Bench, dataset: Dataset, tag: str, *, name: str) -> dict[str, Any]:
    """The Quix Streams configuration `name` (a key of `PEERS`) in the peer's virtualenv."""
    if bench.peer_python is None or not bench.peer_python.exists():
        raise RuntimeError(
            f"no Python with quixstreams at {bench.peer_python}: run `make bench`, which "
            "creates .venv/bench-peer"
        )
    p, job = bench.plan, PEERS[name]
    window = {
        "hopping": _window_args(p.window_minutes, p.step_minutes),
        "tumbling": _window_args(p.tumbling_minutes, p.tumbling_minutes),
    }.get(job, [])
    return _run(
        bench,
        dataset,
        name,
        tag,
        bench.peer_python,
        "quix_peer",
        *("--job", job),
        *("--group", f"{name}-{tag}-{uuid.uuid4().hex[:6]}"),
        *("--state-dir", bench.work / f"{name}-{tag}"),
        *window,
        *_bounds(bench, dataset),
    )


def _window_args(minutes: int, step: int) -> list[str]:
    return ["--window-minutes", str(minutes), "--step-minutes", str(step)]


def _bounds(bench: Bench, dataset: Dataset) -> list[str]:
    return ["--expect", str(dataset.events), "--cap", str(bench.plan.cap_seconds)]


def _run(
    bench: Bench,
    dataset: Dataset,
    name: str,
    tag: str,
    python: Path,
    module: str,
    *options: str | Path,
) -> dict[str, Any]:
    """`bench.contenders.<module>` on the dataset's topic, with its own `options`."""
    result = bench.work / f"{name}-{tag}.json"
    command: list[str | Path] = [
        python,
        *("-m", f"bench.contenders.{module}"),
        *("--bootstrap", bench.bootstrap, "--topic-prefix", dataset.prefix),
        *options,
        *("--result", result),
    ]
    return _contender(bench, f"{name}-{tag}", command, result, bench.env(dataset))


def _contender(
    bench: Bench, name: str, command: Sequence[str | Path], result: Path, env: dict[str, str]
) -> dict[str, Any]:
    """Run a contender process until it writes its result file (then it exits by itself)."""
    timeout = bench.plan.cap_seconds + 180
    start = time.time()
    proc = bench.procs.start(name, command, env)
    try:
        wait_until(
            lambda: result.exists() or proc.popen.poll() is not None,
            timeout,
            f"{name} to finish",
        )
        if not result.exists():
            raise RuntimeError(f"{name} exited with {proc.popen.returncode}: {proc.tail()}")
    finally:
        bench.procs.stop(proc, grace=5)  # it normally exits by itself; Faust stops slowly
    report: dict[str, Any] = json.loads(result.read_text())
    report["start"] = start
    report["seconds"] = report["done"] - report["first"]
    report["startup_seconds"] = report["first"] - start
    report["events_per_s"] = report["events"] / max(report["seconds"], 1e-9)
    report["wall_events_per_s"] = report["events"] / (report["done"] - start)
    return report
