"""Event time and windows (contract 2): minutes, Hanoi-local days, rolling windows, the trend.

Stream time is the latest event time of an applied payment; every window `W` covers `[e − W, e)`
where `e` is the end of the minute containing stream time; trends are least-squares slopes over
Hanoi-local (UTC+7) days. Producers, workers and the reference oracle all take these from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "DAY",
    "DAY_OFFSET_SECONDS",
    "HORIZON",
    "MINUTE",
    "TREND_DAYS",
    "WINDOWS",
    "daily_trend",
    "least_squares_slope",
    "local_day",
    "window_end",
]

MINUTE = 60
DAY = 86_400
DAY_OFFSET_SECONDS = 7 * 3600
WINDOWS: Mapping[str, int] = {"1h": 3600, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
HORIZON = WINDOWS["30d"]
TREND_DAYS = 30


def window_end(stream_time: float) -> int:
    """`e`: the end of the minute containing stream time."""
    return (math.floor(stream_time) // MINUTE + 1) * MINUTE


def local_day(timestamp: float) -> int:
    """The index of the Hanoi-local (UTC+7) day containing `timestamp`."""
    return (math.floor(timestamp) + DAY_OFFSET_SECONDS) // DAY


def daily_trend(days: Mapping[int, Sequence[int]], today: int, min_cell: int) -> float | None:
    """The adoption trend: the least-squares slope of the daily non-cash count share over the
    `TREND_DAYS` complete local days before `today`, from the days with at least `min_cell`
    payments (`days`: local day -> [count, non-cash count]); None with fewer than two such days.
    """
    points = [
        (day, noncash / n)
        for day, (n, noncash, *_) in days.items()
        if today - TREND_DAYS <= day < today and n >= min_cell
    ]
    return least_squares_slope(points)


def least_squares_slope(points: Iterable[tuple[float, float]]) -> float | None:
    """The least-squares slope of y over x, or None with fewer than two distinct x."""
    pts = list(points)
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mean_x = sum(x for x, _ in pts) / n
    mean_y = sum(y for _, y in pts) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pts)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in pts)
    return sxy / sxx
