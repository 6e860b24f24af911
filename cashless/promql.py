"""The PromQL the dashboards and Grafana alert rules share: metric selectors and derived answers.

Only raw metrics are used (contract 2, `up`, and for operations the worker's consumer lag and
the gateway's own), so a query never depends on which recording rules a Prometheus loads.
Segment series come from the worker that owns the segment's partition, city-wide series (goal,
stream time, districts, coverage) from the owner of partition 0: two different scrape targets.
So series from the two groups are matched on their own labels (`on(channel, segment)`) or
through `scalar(max(...))`, never on `instance`.

Template variables (`$segment`, `$window`, …) appear as Grafana writes them; `dashboards.queries`
substitutes concrete values when the expressions are run outside Grafana.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

__all__ = [
    "ACCOUNTS_GOAL",
    "CITY_COVERAGE",
    "CITY_SHARE",
    "CITY_TREND",
    "COVERAGE_TREND",
    "DAYS_TO_DEADLINE",
    "DEFAULT_GOAL",
    "DISTRICT_COVERAGE",
    "DISTRICT_SHARE",
    "DISTRICT_TREND",
    "DUPLICATES",
    "GOAL_ACCOUNTS",
    "GOAL_DEADLINE",
    "GOAL_NONCASH",
    "GOAL_REACHED",
    "LATE",
    "NONCASH_GOAL",
    "NOT_AT_THIS_TREND",
    "NO_TREND_YET",
    "PROJECTION_TEXTS",
    "REJECTED_BY_REASON",
    "SEGMENT_SHARE",
    "SEGMENT_TREND",
    "SILENT_AFTER_SECONDS",
    "SOURCE_SILENCE",
    "STALL_TREND_PER_DAY",
    "STREAM_TIME",
    "below_goal",
    "city_projection",
    "city_share",
    "coverage_projection",
    "district_projection",
    "projection",
    "selector",
    "stalled",
    "stalled_trend",
]

GOAL_DEADLINE = date(2025, 12, 31)
"""The goals' deadline: the end of the programmes to 2025 (the city's digital transformation
programme, and the national scheme of Decision 1813/QĐ-TTg), the report's default."""

DAYS_TO_DEADLINE = (
    f"vector(({datetime.combine(GOAL_DEADLINE, time.max, UTC).timestamp():.0f} - time()) / 86400)"
)
"""Days from now to the end of the deadline's day (UTC); negative once it has passed."""

DEFAULT_GOAL = 0.5
"""The programme's target (50%), drawn as the threshold line.

The live goal is `cashless_goal_ratio`, drawn as a series next to the data."""

STALL_TREND_PER_DAY = 0.0003
"""A segment below the goal whose trend is under 0.03 percentage point a day (about 1 point a
month) is stalled: at that pace a segment 10 points short needs a year or more. The same
threshold as the CashlessAdoptionStalled alert in ops/prometheus/rules/cashless.yml."""

NONCASH_GOAL = 'max(cashless_goal_ratio{goal="noncash"})'
ACCOUNTS_GOAL = 'max(cashless_goal_ratio{goal="epayment_accounts"})'
"""The goals as one series each: what panels colour against and draw as their goal line."""
GOAL_NONCASH = f"scalar({NONCASH_GOAL})"
GOAL_ACCOUNTS = f"scalar({ACCOUNTS_GOAL})"
STREAM_TIME = "scalar(max(cashless_stream_time_seconds))"

# What the views show (the Grafana panels and the report run these same expressions).
CITY_SHARE = 'max(cashless_city_noncash_ratio{window="30d"})'
CITY_COVERAGE = "max(cashless_city_epayment_account_ratio)"
CITY_TREND = "max(cashless_city_adoption_trend_per_day)"
COVERAGE_TREND = (
    "(max(deriv(cashless_city_epayment_account_ratio[30d])) * 86400"
    " and on() (count_over_time(max(cashless_city_epayment_account_ratio)[30d:1h]) >= 24))"
)
"""Change of the city's coverage per day, fitted over the last 30 days Prometheus holds; absent
until it holds a day of coverage (24 hourly samples)."""
DISTRICT_SHARE = 'max by (district) (cashless_district_noncash_ratio{window="30d"})'
DISTRICT_COVERAGE = "max by (district) (cashless_epayment_account_ratio)"
DISTRICT_TREND = "max by (district) (cashless_district_adoption_trend_per_day)"
SEGMENT_SHARE = 'max by (channel, segment) (cashless_noncash_ratio{window="30d"})'
SEGMENT_TREND = "max by (channel, segment) (cashless_adoption_trend_per_day)"
REJECTED_BY_REASON = "sum by (reason) (cashless_events_rejected_total)"
DUPLICATES = "sum(cashless_events_duplicate_total)"
LATE = "sum(cashless_events_late_total)"
SOURCE_SILENCE = f"max by (source) ({STREAM_TIME} - cashless_last_event_timestamp_seconds)"
"""How far each source's newest event is behind stream time, in seconds."""
SILENT_AFTER_SECONDS = 24 * 3600
"""A source over a day of event time behind is silent (the CashlessSourceSilent alert's rule)."""


def city_share(window: str) -> str:
    """The city's count share over one rolling window."""
    return f'max(cashless_city_noncash_ratio{{window="{window}"}})'


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


def _projection(
    share: str, trend: str, goal: str, labels: str, *, as_date: bool, base: str = STREAM_TIME
) -> str:
    """When `share` (one series per `labels`) reaches `goal` if its `trend` (per day) goes on.

    Days = (goal − share) / trend, for a series below the goal with a rising trend; with
    `as_date`, the date that many days after `base` (default stream time: the newest event
    time, which is now for live data), in milliseconds since the epoch as Grafana's date units
    want. The other series get a sentinel: `GOAL_REACHED` (share at or above the goal),
    `NOT_AT_THIS_TREND` (below the goal, trend ≤ 0) or `NO_TREND_YET` (no trend: fewer than two
    full days).
    """
    on = f"on({labels})"
    days = f"(({goal} - {share}) / {on} ({trend} > 0))\n    and {on} ({share} < {goal})"
    value = f"({base} + 86400 * ({days})) * 1000" if as_date else days
    return (
        f"max by ({labels}) (\n"
        f"  ({value})\n"
        f"  or {on} ({GOAL_REACHED} * ({share} >= {goal}))\n"
        f"  or {on} ({NOT_AT_THIS_TREND} + 0 * ({trend} <= 0))\n"
        f"  or {on} ({NO_TREND_YET} + 0 * {share})\n"
        f")"
    )


def projection(segments: str = "", *, as_date: bool) -> str:
    """When each segment's 30-day share reaches the non-cash goal at its current trend."""
    return _projection(
        _share(segments), _trend(segments), GOAL_NONCASH, "channel, segment", as_date=as_date
    )


def district_projection(*, as_date: bool) -> str:
    """When each district's 30-day share (all channels) reaches the non-cash goal."""
    return _projection(
        DISTRICT_SHARE,
        DISTRICT_TREND,
        GOAL_NONCASH,
        "district",
        as_date=as_date,
    )


def city_projection(*, as_date: bool) -> str:
    """When the city's 30-day share reaches the non-cash goal at its current trend."""
    return _projection(CITY_SHARE, CITY_TREND, GOAL_NONCASH, "", as_date=as_date)


def coverage_projection(*, as_date: bool) -> str:
    """When the city's e-payment account coverage reaches its goal at its current trend.

    Coverage is state, not a window of event time: its trend is how fast it moved over the
    last 30 days Prometheus holds (`COVERAGE_TREND`), once it holds a day or more; the date
    counts from now.
    """
    return _projection(
        CITY_COVERAGE, COVERAGE_TREND, GOAL_ACCOUNTS, "", as_date=as_date, base="time()"
    )
