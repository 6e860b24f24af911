"""City overview: is Hanoi on track for the 50% goals, and which segments hold it back."""

from __future__ import annotations

from cashless.promql import (
    ACCOUNTS_GOAL,
    DAYS_TO_DEADLINE,
    GOAL_DEADLINE,
    PROJECTION_TEXTS,
    STALL_TREND_PER_DAY,
    below_goal,
    city_projection,
    coverage_projection,
    projection,
    stalled,
    stalled_trend,
)
from dashboards.panels import Board, Column, Query

__all__ = ["city_overview"]

_STALL_POINTS = f"{STALL_TREND_PER_DAY * 100:g} percentage point"


def city_overview() -> Board:
    """The first dashboard an operator opens."""
    board = Board(
        "cashless-city-overview",
        "Cashless Monitor — City overview",
        "Hanoi's non-cash payment share and e-payment account coverage against the 50% goals, "
        "and the segments that are below the goal, stalled, or on their way.",
        ["overview"],
    )
    board.row("The city against the goals")
    board.stat(
        "City non-cash share, last 30 days",
        "Of all payments made in the city in the last 30 days of event time (every utility, "
        "market and street the monitor receives), the share paid without cash, counted by "
        "number of payments. Green at or above the 50% goal, red below.",
        Query('cashless_city_noncash_ratio{window="30d"}'),
        unit="percentunit",
        ratio=True,
    )
    board.stat(
        "City non-cash share by amount",
        "Of the money (VND) in all payments accepted since the monitor started, the share paid "
        "without cash. Not a rolling window: the exported amount shares are per segment, so "
        "the city figure is taken from the running totals.",
        Query(
            'sum(cashless_payments_amount_vnd_total{method!="cash"})'
            " / sum(cashless_payments_amount_vnd_total)"
        ),
        unit="percentunit",
        ratio=True,
    )
    board.gauge(
        "E-payment account coverage, whole city",
        "Share of Hanoi's population holding at least one open e-payment account (a person "
        "with two wallets counts once). The marker is the goal: over 50% of the population.",
        Query("cashless_city_epayment_account_ratio"),
        goal=ACCOUNTS_GOAL,
    )
    board.stat(
        "Number of segments below the goal",
        "How many utility services, markets and streets paid less than half of their payments "
        "(by count) without cash over the last 30 days.",
        Query(f"count({below_goal()}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "orange")],
        graph=False,
        width=3,
    )
    board.stat(
        "Number of stalled segments",
        "How many segments are below the goal and not rising: their non-cash share grew by "
        f"less than {_STALL_POINTS} a day over the last 30 days of event time.",
        Query(f"count({stalled()}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "red")],
        graph=False,
        width=3,
    )
    board.timeseries(
        "City non-cash share per window",
        "Share of the city's payments paid without cash, by count, over each rolling window "
        "(last hour, day, 7 days, 30 days of event time). The dashed line is the goal.",
        [Query("cashless_city_noncash_ratio", legend="{{window}}")],
        unit="percentunit",
        ratio=True,
        goal_line=True,
    )
    board.timeseries(
        "E-payment account coverage over time",
        "Share of the population holding an open e-payment account, whole city, over time. "
        "The dashed line is the goal (50% of the population).",
        [Query("cashless_city_epayment_account_ratio", legend="coverage")],
        unit="percentunit",
        ratio=True,
        goal=ACCOUNTS_GOAL,
        goal_line=True,
    )

    board.stat(
        "City share reaches the goal on",
        "The date the city's 30-day non-cash share reaches the goal if it keeps its trend (the "
        "slope of the daily city share over the last 30 days of event time). The programme's "
        "deadline is the end of 2025.",
        Query(city_projection(as_date=True)),
        unit="time:YYYY-MM-DD",
        mappings=PROJECTION_TEXTS,
        graph=False,
    )
    board.stat(
        "Account coverage reaches the goal on",
        "The date e-payment account coverage reaches the goal at the pace it moved over the "
        "last 30 days Prometheus holds (coverage is state, not an event-time window); 'no "
        "trend yet' until Prometheus holds a day of it.",
        Query(coverage_projection(as_date=True)),
        unit="time:YYYY-MM-DD",
        mappings=PROJECTION_TEXTS,
        graph=False,
    )

    board.stat(
        "Days to the goals' deadline",
        f"Days left until the goals' deadline, {GOAL_DEADLINE:%d %B %Y} (the end of the "
        "programmes to 2025); negative, in red, once it has passed: the days since.",
        Query(DAYS_TO_DEADLINE),
        unit="suffix: days",
        steps=[(None, "red"), (0, "green")],
        graph=False,
    )

    board.row("Segments")
    board.bars(
        "Segments below the goal",
        "Every utility service, market and street whose non-cash share (by count, last 30 "
        "days) is under the goal, lowest first. Empty when every segment has reached it.",
        Query(
            f"sort(max by (channel, segment) ({below_goal()}))",
            legend="{{channel}} / {{segment}}",
            instant=True,
            may_be_empty=True,
        ),
        unit="percentunit",
        ratio=True,
    )
    board.table(
        "Stalled segments",
        "Segments below the goal whose non-cash share is not rising: the 30-day share and "
        "the trend (change of the daily share per day, fitted over the last 30 days). "
        f"A trend under {_STALL_POINTS} a day counts as stalled. Empty when none is.",
        [
            (
                Query(stalled(), instant=True, table=True, may_be_empty=True),
                Column("30-day share", "percentunit"),
            ),
            (
                Query(stalled_trend(), instant=True, table=True, may_be_empty=True),
                Column("Trend per day", "percentunit"),
            ),
        ],
        keys=["channel", "segment"],
        sort_by="30-day share",
    )
    board.table(
        "When each segment reaches the goal",
        "For each segment, the date its 30-day non-cash share reaches the goal if it keeps "
        "rising at its current trend, and how many days that is from the newest event. "
        "'not at this trend' means the share is flat or falling; 'no trend yet' means fewer "
        "than two full days of data.",
        [
            (
                Query(projection(as_date=True), instant=True, table=True),
                Column("Reaches the goal on", "time:YYYY-MM-DD", PROJECTION_TEXTS),
            ),
            (
                Query(projection(as_date=False), instant=True, table=True),
                Column("Days from now", "suffix: days", PROJECTION_TEXTS),
            ),
        ],
        keys=["channel", "segment"],
        sort_by="Days from now",
        width=24,
    )
    board.alert_list(
        "Adoption alerts now",
        "The adoption alerts firing or pending now: segments stalled or below the goal, city "
        "and district account coverage below the goal. Each links its section of "
        "docs/RUNBOOK.md.",
        labels='{area="adoption"}',
    )
    return board
