"""The Cashless Monitor dashboards, one module per dashboard, and the list of them all."""

from __future__ import annotations

from collections.abc import Callable

from dashboards.boards.city import city_overview
from dashboards.boards.districts import districts
from dashboards.boards.pipeline import pipeline_health
from dashboards.boards.segments import markets_and_streets, utilities
from dashboards.panels import Board

__all__ = ["BOARDS", "all_boards"]

BOARDS: tuple[Callable[[], Board], ...] = (
    city_overview,
    utilities,
    markets_and_streets,
    districts,
    pipeline_health,
)
"""Every dashboard, in the order they are listed and published."""


def all_boards() -> list[Board]:
    """Build every dashboard afresh (builders are not reusable)."""
    return [make() for make in BOARDS]
