"""The sizes of one run of `make bench`: the full run and the quick one, and the parts it has."""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["CONTENDERS", "END", "FULL", "PARTS", "PEERS", "QUICK", "Plan"]

END = "2026-11-20T00:00:00+07:00"  # fixed, so the dataset is the same run after run
# The Quix Streams configurations: contender name -> `bench.contenders.quix_peer --job`.
PEERS = {"peer-hopping": "hopping", "peer-tumbling": "tumbling", "peer-count": "count"}
CONTENDERS = ("ceiling", "naive", *PEERS, "ours")
PARTS = (*CONTENDERS, "latency", "restart", "replay", "gateway")


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
    window_minutes: int  # the hopping windows of the naive job and of peer-hopping
    step_minutes: int
    live_rate: int
    live_seconds: float
    live_reps: int
    gateway_requests: int
    gateway_concurrency: int = 8
    gateway_batch: int = 500
    tumbling_minutes: int = 1  # the window of peer-tumbling
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
QUICK = replace(
    FULL,
    name="quick",
    days=3,
    events_per_day=3000,
    reps=1,
    cap_seconds=5,
    ours_timeout=180,
    live_rate=2000,
    live_seconds=5,
    live_reps=1,
    gateway_requests=20,
)
