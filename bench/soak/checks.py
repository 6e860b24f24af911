"""The soak's pass/fail checks on its samples: memory and descriptors flat, lag bounded."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.soak.sampling import Sample

__all__ = [
    "FD_GROWTH",
    "LAG_BOUND_SECONDS",
    "RECOVERY_SECONDS",
    "RSS_GROWTH_MB",
    "RSS_GROWTH_RATIO",
    "SST_PER_DATABASE",
    "WARMUP_SECONDS",
    "Check",
    "caught_up",
    "flat_checks",
    "lag_check",
]

WARMUP_SECONDS = 60.0
LAG_BOUND_SECONDS = 60.0  # the lag bound, in seconds of input at the run's record rate
RECOVERY_SECONDS = 120.0  # after the kill, the lag is back under the bound within this
TRUTH_TIMEOUT = 300.0
RSS_GROWTH_RATIO = 0.10
RSS_GROWTH_MB = 50.0
FD_GROWTH = 5  # descriptors other than RocksDB's table files
SST_PER_DATABASE = 3


@dataclass
class Check:
    """One pass/fail line of the summary."""

    name: str
    ok: bool
    detail: str


def thirds(values: Sequence[float]) -> tuple[float, float] | None:
    """Medians of the middle and the last third of `values` (None with fewer than 3)."""
    n = len(values)
    if n < 3:
        return None
    return statistics.median(values[n // 3 : 2 * n // 3]), statistics.median(values[2 * n // 3 :])


def flat_checks(rows: list[Sample], databases: int) -> list[Check]:
    checks = []
    for life in sorted({s.life for s in rows}):
        mine = [s for s in rows if s.life == life and s.sending]
        rss = thirds([s.rss_mb for s in mine if s.rss_mb is not None])
        fds = thirds(
            [
                float(s.fds - s.sst_files)
                for s in mine
                if s.fds is not None and s.sst_files is not None
            ]
        )
        if rss is None or fds is None:
            checks.append(Check(f"rss_flat life {life}", False, f"{len(mine)} samples, too few"))
            continue
        growth = rss[1] - rss[0]
        checks.append(
            Check(
                f"rss_flat life {life}",
                growth < RSS_GROWTH_MB and growth < RSS_GROWTH_RATIO * rss[0],
                f"median RSS {rss[0]:.1f} MB (middle third) -> {rss[1]:.1f} MB (last third), "
                f"{growth:+.1f} MB; bound < {RSS_GROWTH_MB:.0f} MB and "
                f"< {RSS_GROWTH_RATIO:.0%}",
            )
        )
        checks.append(
            Check(
                f"fds_flat life {life}",
                fds[1] - fds[0] <= FD_GROWTH,
                f"median open FDs other than RocksDB table files {fds[0]:.0f} (middle third) "
                f"-> {fds[1]:.0f} (last third); bound +{FD_GROWTH}",
            )
        )
        tables = [s.sst_files for s in rows if s.life == life and s.sst_files is not None]
        most = max(tables, default=0)
        checks.append(
            Check(
                f"sst_bounded life {life}",
                bool(tables) and most <= SST_PER_DATABASE * databases,
                f"RocksDB table files open: {min(tables, default=0)} to {most} "
                f"(last {tables[-1] if tables else None}); bound {SST_PER_DATABASE} per "
                f"database x {databases} databases = {SST_PER_DATABASE * databases}",
            )
        )
    return checks


def lag_check(rows: list[Sample], killed_at: float, bound: float) -> Check:
    """The lag after the warm-up, outside the `RECOVERY_SECONDS` that follow the kill."""
    judged = [
        s
        for s in rows
        if s.t >= WARMUP_SECONDS and not killed_at <= s.t < killed_at + RECOVERY_SECONDS
    ]
    lags = [(s.lag_records, s.t) for s in judged if s.lag_records is not None]
    worst, at = max(lags, default=(0, 0.0))
    restart = [
        s.lag_records
        for s in rows
        if killed_at <= s.t < killed_at + RECOVERY_SECONDS and s.lag_records is not None
    ]
    unanswered = len(judged) - len(lags)
    after = any(s.t >= killed_at + RECOVERY_SECONDS for s in rows)
    return Check(
        "lag_bounded",
        bool(lags) and after and worst <= bound and unanswered == 0,
        f"max {worst} records (t={at:.0f} s) after the {WARMUP_SECONDS:.0f} s warm-up and "
        f"outside the {RECOVERY_SECONDS:.0f} s after the kill, bound {bound:.0f} "
        f"({LAG_BOUND_SECONDS:.0f} s of input); max {max(restart, default=0)} within those "
        f"{RECOVERY_SECONDS:.0f} s; {unanswered} samples without an answer from Kafka"
        + ("" if after else "; no sample after the recovery window"),
    )


def caught_up(rows: list[Sample], killed_at: float) -> float | None:
    """Seconds from the kill to the first sample, after the highest lag of the recovery window,
    where the restarted worker answers and its lag is no larger than the worst of the first life
    after its warm-up. (A restart quick enough to leave no peak gives the first such sample;
    the window keeps a later peak of the live load from being taken for the restart's.)"""
    before = [
        s.lag_records
        for s in rows
        if WARMUP_SECONDS <= s.t < killed_at and s.lag_records is not None
    ]
    after = [s for s in rows if s.t >= killed_at and s.lag_records is not None]
    if not before or not after:
        return None
    window = [s for s in after if s.t <= killed_at + RECOVERY_SECONDS]
    peak = max(range(len(window)), key=lambda i: window[i].lag_records or 0, default=0)
    back = next(
        (
            s
            for s in after[peak:]
            if s.events_counted is not None and (s.lag_records or 0) <= max(before)
        ),
        None,
    )
    return None if back is None else round(back.t - killed_at, 1)
