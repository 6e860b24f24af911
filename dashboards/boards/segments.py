"""Per-segment dashboards: utility services, and markets with cashless streets."""

from __future__ import annotations

from dataclasses import dataclass

from cashless.promql import (
    PROJECTION_TEXTS,
    STALL_TREND_PER_DAY,
    below_goal,
    projection,
    selector,
    stalled,
)
from dashboards.panels import Board, Column, Query

__all__ = ["WINDOWS", "markets_and_streets", "utilities"]

WINDOWS = ("1h", "1d", "7d", "30d")
"""The rolling windows of contract 2, as the `window` label spells them."""

_SEGMENT = 'segment=~"$segment"'


@dataclass(frozen=True)
class _Words:
    """How a board names its segments in titles and descriptions."""

    one: str
    many: str
    legend: str


def _window_variable(board: Board) -> None:
    board.choice_variable(
        "window",
        "Window",
        WINDOWS,
        "30d",
        "The rolling window of event time the shares are computed over.",
    )


def _segment_panels(board: Board, channel: str, words: _Words) -> None:
    """The panels both segment dashboards share, for the segments `channel` selects."""
    segments = f"{channel}, {_SEGMENT}"
    share = selector("cashless_noncash_ratio", segments, 'window="$window"')
    value_share = selector("cashless_noncash_value_ratio", segments, 'window="$window"')
    trend = selector("cashless_adoption_trend_per_day", segments)
    payments = selector("cashless_payments_total", segments)
    stall_points = f"{STALL_TREND_PER_DAY * 100:g} percentage point"

    board.row(f"{words.many.capitalize()} against the goal")
    board.bars(
        f"Non-cash share per {words.one}, ranked",
        f"For each selected {words.one}, the share of its payments made without cash, by "
        "count, over the chosen window of event time; highest first. Green at or above the "
        "50% goal, red below.",
        Query(f"sort_desc(max by (channel, segment) ({share}))", legend=words.legend, instant=True),
        unit="percentunit",
        ratio=True,
    )
    board.stat(
        f"{words.many.capitalize()} below the goal",
        f"How many of the selected {words.many} paid less than half of their payments (by "
        "count) without cash over the last 30 days.",
        Query(f"count({below_goal(segments)}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "orange")],
        graph=False,
    )
    board.stat(
        f"Stalled {words.many}",
        f"How many of the selected {words.many} are below the goal and not rising: their "
        f"non-cash share grew by less than {stall_points} a day over the last 30 days.",
        Query(f"count({stalled(segments)}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "red")],
        graph=False,
    )
    board.timeseries(
        "Non-cash share by count",
        f"Share of each {words.one}'s payments made without cash, counted by number of "
        "payments, over the chosen rolling window. The dashed line is the goal.",
        [Query(share, legend=words.legend)],
        unit="percentunit",
        ratio=True,
        goal_line=True,
    )
    board.timeseries(
        "Non-cash share by amount",
        f"Share of the money (VND) paid to each {words.one} that was paid without cash, over "
        "the chosen rolling window. Large bills paid by transfer weigh more here than in the "
        "share by count.",
        [Query(value_share, legend=words.legend)],
        unit="percentunit",
        ratio=True,
        goal_line=True,
    )

    board.row("Where adoption is heading")
    board.timeseries(
        "Adoption trend per day",
        f"How fast each {words.one}'s non-cash share is changing: the slope of its daily "
        "share over the last 30 days of event time, in percentage points per day (0.5% = "
        "half a point a day). The dashed line is the stall pace: below it, a segment under "
        "the goal counts as stalled.",
        # a trend needs two full days with data: empty for a monitor younger than that
        [Query(trend, legend=words.legend, may_be_empty=True)],
        unit="percentunit",
        steps=[(None, "red"), (STALL_TREND_PER_DAY, "green")],
    )
    board.table(
        f"When each {words.one} reaches the goal",
        f"For each selected {words.one}, the date its 30-day non-cash share reaches the goal "
        "if it keeps rising at its current trend, and how many days that is from the newest "
        "event. 'not at this trend' means the share is flat or falling; 'no trend yet' means "
        "fewer than two full days of data.",
        [
            (
                Query(projection(segments, as_date=True), instant=True, table=True),
                Column("Reaches the goal on", "time:YYYY-MM-DD", PROJECTION_TEXTS),
            ),
            (
                Query(projection(segments, as_date=False), instant=True, table=True),
                Column("Days from now", "suffix: days", PROJECTION_TEXTS),
            ),
        ],
        keys=["channel", "segment"],
        sort_by="Days from now",
    )
    board.timeseries(
        "Payments accepted per second, by method",
        f"Payment events accepted by the monitor for the selected {words.many}, per second "
        "of arrival, split by payment method (cash, card, QR, transfer, …).",
        [
            Query(
                f"sum by (method) (rate({payments}[$__rate_interval]))",
                legend="{{method}}",
            )
        ],
        unit="cps",
        stack=True,
        width=24,
    )


def utilities() -> Board:
    """Electricity, water, tuition, hospital fees and the other utility services."""
    board = Board(
        "cashless-utilities",
        "Cashless Monitor — Utilities",
        "Non-cash share of utility bills (electricity, water, tuition, hospital and public "
        "service fees, …) per service, against the 50% goal.",
        ["utilities"],
    )
    board.label_variable(
        "segment",
        "Service",
        'label_values(cashless_noncash_ratio{channel="utility"}, segment)',
        "The utility services to show.",
    )
    _window_variable(board)
    _segment_panels(board, 'channel="utility"', _Words("service", "services", legend="{{segment}}"))
    return board


def markets_and_streets() -> Board:
    """The "Market 4.0" markets and the cashless payment streets."""
    board = Board(
        "cashless-markets-streets",
        "Cashless Monitor — Markets and streets",
        "Non-cash share at the markets and cashless payment streets, per market or street, "
        "against the 50% goal.",
        ["markets", "streets"],
    )
    board.options_variable(
        "channel",
        "Channel",
        ["market", "street"],
        "Markets, cashless payment streets, or both.",
    )
    board.label_variable(
        "segment",
        "Market or street",
        'label_values(cashless_noncash_ratio{channel=~"$channel"}, segment)',
        "The markets and streets to show.",
    )
    _window_variable(board)
    _segment_panels(
        board,
        'channel=~"$channel"',
        _Words("market or street", "markets and streets", legend="{{segment}} ({{channel}})"),
    )
    return board
