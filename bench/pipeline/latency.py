"""Latency: produce -> visible in /metrics, for a worker under a paced live load
(bench/live_load.py), from the send() of each record to the first poll that counts it."""

from __future__ import annotations

import functools
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.harness.metrics import payments_by_segment, scrape
from bench.harness.paths import ROOT
from bench.harness.processes import wait_until
from bench.harness.progress import say
from bench.harness.stats import percentile, spread
from bench.pipeline.context import Bench
from bench.pipeline.ours import start_worker
from cashless.topics import Topics, ensure_topics

__all__ = ["latency"]

_LIVE_LOAD = ROOT / "bench" / "live_load.py"
Polls = list[tuple[float, dict[str, float]]]


def latency(bench: Bench) -> None:
    """`live_reps` runs of a fresh worker under the plan's live rate; medians of p50, p99, max."""
    p = bench.plan
    runs = []
    for rep in range(1, p.live_reps + 1):
        say(f"latency {rep}/{p.live_reps}: {p.live_rate:,} events/s for {p.live_seconds:.0f} s")
        report = bench.measure(f"latency run {rep}", functools.partial(_run, bench, f"l{rep}"))
        if report is not None:
            runs.append(report)
            say(
                f"  p50 {report['p50_ms']:.0f} ms, p99 {report['p99_ms']:.0f} ms, "
                f"max {report['max_ms']:.0f} ms over {report['events']:,} events "
                f"({report['missing']:,} never visible)"
            )
    bench.results["latency"] = {
        "rate": p.live_rate,
        "seconds": p.live_seconds,
        "poll_seconds": p.live_poll_seconds,
        "runs": runs,
        **{m: spread([r[m] for r in runs]) for m in ("p50_ms", "p99_ms", "max_ms")},
    }


def _run(bench: Bench, tag: str) -> dict[str, Any]:
    p = bench.plan
    prefix = f"live{tag}{uuid.uuid4().hex[:6]}."
    ensure_topics(bench.bootstrap, Topics(prefix))
    proc, port = start_worker(bench, tag, prefix, bench.env())
    try:
        wait_until(lambda: scrape(bench.http, port), 120, "the worker's /metrics")
        # Warm-up: the worker has joined the group and applies events before the clock starts.
        _warm_up(bench, f"{tag}-warm", prefix, rate=500, seconds=2)
        wait_until(
            lambda: sum(payments_by_segment(scrape(bench.http, port) or "").values()) >= 1000,
            120,
            "the warm-up events in /metrics",
        )
        baseline = payments_by_segment(scrape(bench.http, port) or "")
        log = bench.work / f"live-{tag}.log"
        producer = bench.procs.start(
            f"live-{tag}",
            [
                sys.executable,
                *_live_load(bench, prefix, p.live_rate, p.live_seconds, log, f"{tag}-live"),
            ],
            bench.env(),
        )
        polls: Polls = []
        finished: float | None = None
        wanted: dict[str, int] = {}
        while True:
            text = scrape(bench.http, port)
            if text is not None:
                polls.append((time.time(), payments_by_segment(text)))
            if finished is None and producer.popen.poll() is not None:
                if producer.popen.returncode != 0:
                    raise RuntimeError(f"live load failed: {producer.tail()}")
                finished = time.time()
                wanted = _sent_per_key(log)
            if finished is not None and polls:
                now = polls[-1][1]
                if time.time() - finished > 30 or all(
                    now.get(k, 0) - baseline.get(k, 0) >= n for k, n in wanted.items()
                ):
                    break
            time.sleep(p.live_poll_seconds)
        cpu, rss = proc.cpu_seconds(), proc.peak_rss_mb()
    finally:
        bench.procs.stop(proc)
    return {**_latencies(bench, log, baseline, polls), "cpu_s": cpu, "rss_peak_mb": rss}


def _live_load(
    bench: Bench, prefix: str, rate: float, seconds: float, log: Path, tag: str
) -> list[str | Path]:
    """The arguments of bench/live_load.py, for the run's Python."""
    return [
        _LIVE_LOAD,
        *("--bootstrap", bench.bootstrap, "--topic-prefix", prefix),
        *("--rate", str(rate), "--duration", str(seconds), "--log", log, "--tag", tag),
    ]


def _warm_up(bench: Bench, tag: str, prefix: str, rate: float, seconds: float) -> None:
    log = bench.work / f"live-{tag}.log"
    bench.python(_live_load(bench, prefix, rate, seconds, log, tag), "live load", timeout=120)


def _sent(log: Path) -> list[tuple[float, str, int]]:
    sent = []
    for line in log.read_text().splitlines():
        at, key, count = line.split()
        sent.append((float(at), key, int(count)))
    return sent


def _sent_per_key(log: Path) -> dict[str, int]:
    wanted: dict[str, int] = defaultdict(int)
    for _, key, count in _sent(log):
        wanted[key] += count
    return wanted


def _latencies(bench: Bench, log: Path, baseline: dict[str, float], polls: Polls) -> dict[str, Any]:
    """Each event's latency: from the send() of its record to the first /metrics response
    whose count for its segment includes it (a segment is read in order)."""
    by_key: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    cumulative: dict[str, int] = defaultdict(int)
    sent = _sent(log)
    counted_from = sent[0][0] + bench.plan.live_skip_seconds if sent else 0.0
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
        "skipped_first_seconds": bench.plan.live_skip_seconds,
        "missing": missing,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000,
        "polls": len(polls),
    }
