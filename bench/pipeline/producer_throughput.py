"""Producer throughput into Kafka: `cashless replay` of the dataset file, and `cashless gateway`
under the load generator of tests/integration/test_gateway.py in a second process."""

from __future__ import annotations

import functools
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.harness.processes import free_port, wait_until
from bench.harness.progress import say
from bench.harness.stats import spread
from bench.pipeline.context import Bench
from bench.pipeline.dataset import Dataset
from cashless.topics import Topics, ensure_topics

__all__ = ["gateway", "replay"]


def replay(bench: Bench, dataset: Dataset) -> None:
    """`cashless replay` of the dataset file into fresh topics, `reps` times."""
    runs = []
    for rep in range(1, bench.plan.reps + 1):
        say(f"replay {rep}/{bench.plan.reps}: cashless replay ({dataset.file.name})")
        report = bench.measure(f"replay run {rep}", lambda: _run_replay(bench, dataset.file))
        if report is not None:
            runs.append(report)
            say(
                f"  {report['lines']:,} lines in {report['seconds']:.2f} s: "
                f"{report['events_per_s']:,.0f} accepted events/s "
                f"({report['wall_lines_per_s']:,.0f} lines/s with start-up)"
            )
    bench.results["replay"] = {
        "runs": runs,
        **{m: spread([r[m] for r in runs]) for m in ("events_per_s", "wall_lines_per_s")},
    }


def _run_replay(bench: Bench, path: Path) -> dict[str, Any]:
    prefix = f"replay{uuid.uuid4().hex[:6]}."
    started = time.monotonic()
    done = bench.cashless("replay", path, "--topic-prefix", prefix, "--no-progress")
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


def gateway(bench: Bench) -> None:
    """One `cashless gateway`, loaded `reps` times by batches from several connections."""
    p = bench.plan
    tokens = bench.work / "gateway-tokens.json"
    token = bench.cashless("gateway", "token", "add", "hawaco", "--tokens-file", tokens)
    port = free_port()
    prefix = f"gw{uuid.uuid4().hex[:6]}."
    ensure_topics(bench.bootstrap, Topics(prefix))
    proc = bench.procs.start(
        "gateway",
        [
            sys.executable,
            *("-m", "cli", "gateway", "--port", str(port)),
            *("--tokens-file", tokens, "--topic-prefix", prefix),
        ],
        bench.env(),
    )
    runs = []
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        wait_until(lambda: _ready(bench.http, url), 60, "the gateway")
        for rep in range(1, p.reps + 1):
            say(
                f"gateway {rep}/{p.reps}: {p.gateway_requests} requests of "
                f"{p.gateway_batch} events, {p.gateway_concurrency} connections"
            )
            report = bench.measure(
                f"gateway run {rep}",
                functools.partial(_run_gateway, bench, port, token.stdout.strip(), f"r{rep}"),
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
        bench.procs.stop(proc)
    bench.results["gateway"] = {
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


def _ready(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _run_gateway(bench: Bench, port: int, token: str, tag: str) -> dict[str, Any]:
    p = bench.plan
    done = bench.python(
        [
            *("-m", "tests.integration.test_gateway", "--url", f"http://127.0.0.1:{port}"),
            *("--token", token, "--requests", str(p.gateway_requests)),
            *("--batch", str(p.gateway_batch), "--concurrency", str(p.gateway_concurrency)),
            *("--tag", f"bench-{tag}-{uuid.uuid4().hex[:6]}"),
        ],
        "load generator",
        timeout=600,
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if report["statuses"] != {"202": p.gateway_requests}:
        raise RuntimeError(f"not every request was accepted: {report['statuses']}")
    return report
