"""Throughput: each contender, then ours, several times on the dataset; medians and ratios."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from bench.harness.progress import say
from bench.harness.stats import spread
from bench.pipeline.contenders import run_ceiling, run_naive, run_peer
from bench.pipeline.context import Bench
from bench.pipeline.dataset import Dataset
from bench.pipeline.ours import PROFILE, run_ours, time_by_part
from bench.pipeline.plan import CONTENDERS, PEERS

__all__ = ["fastest_peer", "ratios", "throughput"]

_RUNNERS: dict[str, Callable[[Bench, Dataset, str], dict[str, Any]]] = {
    "ceiling": run_ceiling,
    "naive": run_naive,
    **{name: functools.partial(run_peer, name=name) for name in PEERS},
    "ours": run_ours,
}
_SUMMED = (
    "events_per_s",
    "wall_events_per_s",
    "cpu_s",
    "rss_peak_mb",
    "seconds",
    "startup_seconds",
    "events",
)


def throughput(bench: Bench, dataset: Dataset) -> None:
    """The wanted contenders in turn, `reps` times; then one profiled run of ours."""
    wanted = [name for name in CONTENDERS if name in bench.only]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in wanted}
    for rep in range(1, bench.plan.reps + 1):
        for name in wanted:
            say(f"throughput {rep}/{bench.plan.reps}: {name}")
            report = bench.measure(
                f"{name} run {rep}", functools.partial(_RUNNERS[name], bench, dataset, f"r{rep}")
            )
            if report is not None:
                runs[name].append(report)
                say(_line(name, report))
    summary: dict[str, Any] = {}
    for name, reports in runs.items():
        summary[name] = {
            "runs": reports,
            **{metric: spread([r[metric] for r in reports]) for metric in _SUMMED},
        }
    bench.results["throughput"] = summary
    bench.results["fastest_peer"] = fastest_peer(summary)
    bench.results["ratios"] = ratios(summary)
    if "ours" in wanted:
        say("profile: one more run of ours, sampled by py-spy (not counted)")
        profiled = functools.partial(run_ours, bench, dataset, "profiled", PROFILE)
        if bench.measure("ours profiled", profiled) is not None:
            bench.results["profile"] = bench.measure("profile", time_by_part)


def fastest_peer(summary: dict[str, Any]) -> str | None:
    """The Quix Streams configuration with the highest median events/s (None: none measured)."""
    rated = {name: rate for name in PEERS if (rate := _median(summary, name))}
    return max(rated, key=rated.__getitem__) if rated else None


def ratios(summary: dict[str, Any]) -> dict[str, float]:
    """Ours over each other contender, medians of events/s; `ours/fastest-peer` is over the
    fastest Quix Streams configuration of the same run."""
    ours = _median(summary, "ours")
    if not ours:
        return {}
    result: dict[str, float] = {}
    for other in CONTENDERS:
        theirs = _median(summary, other)
        if other != "ours" and theirs:
            result[f"ours/{other}"] = ours / theirs
    fastest = fastest_peer(summary)
    if fastest is not None:
        result["ours/fastest-peer"] = result[f"ours/{fastest}"]
    return result


def _median(summary: dict[str, Any], name: str) -> float | None:
    rate = (summary.get(name) or {}).get("events_per_s")
    return rate.get("median") if rate else None


def _line(name: str, report: dict[str, Any]) -> str:
    return (
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
