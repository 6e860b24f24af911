"""The measured figures against the project's performance targets."""

from __future__ import annotations

from typing import Any

from bench.pipeline.plan import PEERS

__all__ = ["targets"]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured figures against the performance targets (medians; None = not measured)."""

    def median(*path: str) -> float | None:
        node: Any = results
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node.get("median") if isinstance(node, dict) else None

    ratios = results.get("ratios", {})
    latency = results.get("latency") or {}
    restart = results.get("restart") or {}
    throughput = results.get("throughput") or {}
    # "every configuration" only holds when each of them was measured in this run
    every_peer = all((throughput.get(name) or {}).get("runs") for name in PEERS)
    rows = [
        ("one worker ≥ 100,000 events/s", median("throughput", "ours", "events_per_s"), 100_000),
        ("ours ≥ 0.35 × the ceiling", ratios.get("ours/ceiling"), 0.35),
        ("ours ≥ 10 × the naive Faust baseline", ratios.get("ours/naive"), 10),
        (
            "ours ahead of every Quix Streams configuration (ours / the fastest)",
            ratios.get("ours/fastest-peer") if every_peer else None,
            1,
        ),
        (
            f"p99 produce → /metrics ≤ 500 ms at {latency.get('rate', 0):,} events/s",
            median("latency", "p99_ms"),
            -500,  # at most
        ),
        (
            f"restart after kill -9 with {restart.get('behind', 0):,} events behind: "
            "caught up ≤ 15 s",
            median("restart", "seconds"),
            -15,  # at most
        ),
        ("replay ≥ 100,000 events/s", median("replay", "events_per_s"), 100_000),
        ("gateway ≥ 50,000 events/s in batches of 500", median("gateway", "events_per_s"), 50_000),
    ]
    return [
        {
            "target": name,
            "measured": value,
            "met": None if value is None else (value <= -bound if bound < 0 else value >= bound),
        }
        for name, value, bound in rows
    ]
