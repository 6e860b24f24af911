"""Districts: e-payment account coverage and non-cash share per district, ranked."""

from __future__ import annotations

from cashless.promql import (
    ACCOUNTS_GOAL,
    GOAL_ACCOUNTS,
    GOAL_NONCASH,
    PROJECTION_TEXTS,
    district_projection,
    selector,
)
from cashless.taxonomy import load_taxonomy
from dashboards.boards.segments import WINDOWS
from dashboards.panels import Board, Column, Query

__all__ = ["districts"]

_DISTRICT = 'district=~"$district"'


def districts() -> Board:
    """Which districts lead and which lag, on payments and on accounts."""
    board = Board(
        "cashless-districts",
        "Cashless Monitor — Districts",
        "Per district of Hanoi: the share of payments made without cash (all channels) and "
        "the share of residents holding an e-payment account, ranked, against the 50% goals.",
        ["districts"],
    )
    board.label_variable(
        "district",
        "District",
        "label_values(cashless_district_noncash_ratio, district)",
        "The districts to show.",
    )
    board.choice_variable(
        "window",
        "Window",
        WINDOWS,
        "30d",
        "The rolling window of event time the payment shares are computed over.",
    )
    board.show_names("district", {d.slug: d.name for d in load_taxonomy().districts.values()})
    share = selector("cashless_district_noncash_ratio", _DISTRICT, 'window="$window"')
    coverage = selector("cashless_epayment_account_ratio", _DISTRICT)
    holders = selector("cashless_epayment_account_holders", _DISTRICT)

    board.row("Ranking")
    board.bars(
        "Non-cash share per district, ranked",
        "For each district, the share of payments made there without cash (utilities, "
        "markets and streets together), by count, over the chosen window; highest first. "
        "Green at or above the 50% goal, red below.",
        Query(f"sort_desc(max by (district) ({share}))", legend="{{district}}", instant=True),
        unit="percentunit",
        ratio=True,
        width=8,
        height=14,
    )
    board.bars(
        "E-payment account coverage per district, ranked",
        "For each district, the share of its residents who hold at least one open e-payment "
        "account; highest first. Green at or above the goal of 50% of the population.",
        Query(f"sort_desc(max by (district) ({coverage}))", legend="{{district}}", instant=True),
        unit="percentunit",
        ratio=True,
        goal=ACCOUNTS_GOAL,
        width=8,
        height=14,
    )
    board.table(
        "Districts side by side",
        "Each district's non-cash share of payments (chosen window), its e-payment account "
        "coverage, and the number of residents holding an account. Sort by any column.",
        [
            (
                Query(f"max by (district) ({share})", instant=True, table=True),
                Column("Non-cash share", "percentunit"),
            ),
            (
                Query(f"max by (district) ({coverage})", instant=True, table=True),
                Column("Account coverage", "percentunit"),
            ),
            (
                Query(f"max by (district) ({holders})", instant=True, table=True),
                Column("Account holders", "short"),
            ),
        ],
        keys=["district"],
        sort_by="Non-cash share",
        descending=True,
        width=8,
        height=14,
    )

    board.row("Over time")
    board.stat(
        "Districts below the non-cash goal",
        "How many of the selected districts paid less than half of their payments (by count) "
        "without cash over the chosen window.",
        Query(f"count({share} < {GOAL_NONCASH}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "orange")],
        graph=False,
        width=12,
        height=4,
    )
    board.stat(
        "Districts below the coverage goal",
        "How many of the selected districts have fewer than half of their residents holding "
        "an open e-payment account.",
        Query(f"count({coverage} < {GOAL_ACCOUNTS}) or vector(0)"),
        unit="none",
        steps=[(None, "green"), (1, "orange")],
        graph=False,
        width=12,
        height=4,
    )
    board.timeseries(
        "Non-cash share per district",
        "Share of each district's payments made without cash, by count, over the chosen "
        "rolling window. The dashed line is the goal.",
        [Query(share, legend="{{district}}")],
        unit="percentunit",
        ratio=True,
        goal_line=True,
    )
    board.timeseries(
        "E-payment account coverage per district",
        "Share of each district's residents holding an open e-payment account, over time. "
        "The dashed line is the goal (50% of the population).",
        [Query(coverage, legend="{{district}}")],
        unit="percentunit",
        ratio=True,
        goal=ACCOUNTS_GOAL,
        goal_line=True,
    )
    board.table(
        "When each district reaches the goal",
        "For each district, the date its 30-day non-cash share (all channels) reaches the goal "
        "if it keeps its trend (the slope of its daily share over the last 30 days of event "
        "time), and how many days that is from the newest event. The programme's deadline is "
        "the end of 2025.",
        [
            (
                Query(district_projection(as_date=True), instant=True, table=True),
                Column("Reaches the goal on", "time:YYYY-MM-DD", PROJECTION_TEXTS),
            ),
            (
                Query(district_projection(as_date=False), instant=True, table=True),
                Column("Days from now", "suffix: days", PROJECTION_TEXTS),
            ),
        ],
        keys=["district"],
        sort_by="Days from now",
        width=24,
    )
    return board
