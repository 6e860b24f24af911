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
from bench.pipeline.plan import CONTENDERS

__all__ = ["throughput"]

_RUNNERS: dict[str, Callable[[Bench, Dataset, str], dict[str, Any]]] = {
    "ceiling": run_ceiling,
    "naive": run_naive,
    "peer": run_peer,
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
    ours = (summary.get("ours") or {}).get("events_per_s")
    ratios = {}
    for other in ("ceiling", "naive", "peer"):
        theirs = (summary.get(other) or {}).get("events_per_s")
        if ours and theirs:
            ratios[f"ours/{other}"] = ours["median"] / theirs["median"]
    bench.results["throughput"] = summary
    bench.results["ratios"] = ratios
    if "ours" in wanted:
        say("profile: one more run of ours, sampled by py-spy (not counted)")
        profiled = functools.partial(run_ours, bench, dataset, "profiled", PROFILE)
        if bench.measure("ours profiled", profiled) is not None:
            bench.results["profile"] = bench.measure("profile", time_by_part)


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
