"""The PromQL the dashboards and Grafana alert rules share: metric selectors and derived answers.

Only raw metrics of contract 2 (and `up`) are used, so a query never depends on which recording
rules a Prometheus happens to load. Segment series come from the worker that owns the segment's
partition, city-wide series (goal, stream time, districts, coverage) from the owner of partition
0: two different scrape targets. So series from the two groups are matched on their own labels
(`on(channel, segment)`) or through `scalar(max(...))`, never on `instance`.

Template variables (`$segment`, `$window`, …) appear as Grafana writes them; `dashboards.queries`
substitutes concrete values when the expressions are run outside Grafana.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_GOAL",
    "GOAL_ACCOUNTS",
    "GOAL_NONCASH",
    "GOAL_REACHED",
    "NOT_AT_THIS_TREND",
    "NO_TREND_YET",
    "PROJECTION_TEXTS",
    "STALL_TREND_PER_DAY",
    "STREAM_TIME",
    "below_goal",
    "projection",
    "selector",
    "stalled",
    "stalled_trend",
]

DEFAULT_GOAL = 0.5
"""The programme's target (50%), drawn as the threshold line.

The live goal is `cashless_goal_ratio`, drawn as a series next to the data."""

STALL_TREND_PER_DAY = 0.0003
"""A segment below the goal whose trend is under 0.03 percentage point a day (about 1 point a
month) is stalled: at that pace a segment 10 points short needs a year or more. The same
threshold as the CashlessAdoptionStalled alert in ops/prometheus/rules/cashless.yml."""

GOAL_NONCASH = 'scalar(max(cashless_goal_ratio{goal="noncash"}))'
GOAL_ACCOUNTS = 'scalar(max(cashless_goal_ratio{goal="epayment_accounts"}))'
STREAM_TIME = "scalar(max(cashless_stream_time_seconds))"

# Sentinels of `projection`, shown as text by value mappings.
GOAL_REACHED = 0
NOT_AT_THIS_TREND = -1
NO_TREND_YET = -2
PROJECTION_TEXTS = {
    str(GOAL_REACHED): "goal reached",
    str(NOT_AT_THIS_TREND): "not at this trend",
    str(NO_TREND_YET): "no trend yet",
}
"""How a table reads the sentinels of `projection`."""


def selector(metric: str, *matchers: str) -> str:
    """`metric{m1, m2}`, leaving out empty matchers (`selector("up", 'job="x"')`)."""
    given = [m for m in matchers if m]
    return f"{metric}{{{', '.join(given)}}}" if given else metric


def _share(segments: str) -> str:
    return selector("cashless_noncash_ratio", segments, 'window="30d"')


def _trend(segments: str) -> str:
    return selector("cashless_adoption_trend_per_day", segments)


def below_goal(segments: str = "") -> str:
    """30-day count share of each segment whose share is under the non-cash goal."""
    return f"{_share(segments)} < {GOAL_NONCASH}"


def stalled(segments: str = "") -> str:
    """30-day share of each stalled segment: below the goal and its trend under the stall pace."""
    return (
        f"max by (channel, segment) (\n"
        f"  ({_share(segments)} < {GOAL_NONCASH})\n"
        f"  and on(channel, segment) ({_trend(segments)} < {STALL_TREND_PER_DAY})\n"
        f")"
    )


def stalled_trend(segments: str = "") -> str:
    """Trend per day of each stalled segment (same segments as `stalled`)."""
    return (
        f"max by (channel, segment) (\n"
        f"  ({_trend(segments)} < {STALL_TREND_PER_DAY})\n"
        f"  and on(channel, segment) ({_share(segments)} < {GOAL_NONCASH})\n"
        f")"
    )


def projection(segments: str = "", *, as_date: bool) -> str:
    """When each segment's 30-day share reaches the goal if its current trend goes on.

    Days = (goal − share) / trend, for a segment below the goal with a rising trend; with
    `as_date`, the date that many days after stream time (the newest event time, which is
    now for live data), in milliseconds since the epoch as Grafana's date units want. The other
    segments get a sentinel: `GOAL_REACHED` (share at or above the goal), `NOT_AT_THIS_TREND`
    (below the goal, trend ≤ 0) or `NO_TREND_YET` (fewer than two full days to fit a trend).
    """
    share, trend = _share(segments), _trend(segments)
    days = (
        f"(({GOAL_NONCASH} - {share}) / on(channel, segment) ({trend} > 0))\n"
        f"    and on(channel, segment) ({share} < {GOAL_NONCASH})"
    )
    value = f"({STREAM_TIME} + 86400 * ({days})) * 1000" if as_date else days
    return (
        f"max by (channel, segment) (\n"
        f"  ({value})\n"
        f"  or on(channel, segment) ({GOAL_REACHED} * ({share} >= {GOAL_NONCASH}))\n"
        f"  or on(channel, segment) ({NOT_AT_THIS_TREND} + 0 * ({trend} <= 0))\n"
        f"  or on(channel, segment) ({NO_TREND_YET} + 0 * {share})\n"
        f")"
    )
