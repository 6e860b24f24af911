"""What a projection query's answer means: reached, a date (before or after the deadline), not at
the current trend, or no trend yet.

The arithmetic itself (days = (goal − share) / trend) is PromQL, in `cashless.promql`, shared with
the Grafana panels; here the answer in days becomes a date counted from a base time, and is set
against the goal's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from cashless.promql import GOAL_REACHED, NO_TREND_YET, NOT_AT_THIS_TREND

__all__ = ["HANOI", "Projection", "projection_from_days"]

HANOI = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Projection:
    """When a share reaches its goal at its current trend."""

    status: str
    """`reached`, `projected`, `not_at_trend` or `no_trend`."""
    days: float | None = None
    day: date | None = None
    """The Hanoi-local date it reaches the goal (status `projected`)."""
    before_deadline: bool | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "days": self.days,
            "date": self.day.isoformat() if self.day else None,
            "before_deadline": self.before_deadline,
        }


def projection_from_days(answer: float | None, base: datetime, deadline: date) -> Projection:
    """The projection that the PromQL answer `answer` (days, or a sentinel) stands for.

    `base` is the moment the days count from (stream time for shares, now for coverage); no
    answer at all (the share itself is absent) reads as no trend.
    """
    if answer is None or answer == NO_TREND_YET:
        return Projection("no_trend")
    if answer == GOAL_REACHED:
        return Projection("reached", days=0.0)
    if answer == NOT_AT_THIS_TREND:
        return Projection("not_at_trend")
    if answer < 0:
        raise ValueError(f"a projection of {answer} days is neither a date nor a sentinel")
    when = base.astimezone(UTC) + timedelta(days=answer)
    day = when.astimezone(HANOI).date()
    return Projection("projected", days=answer, day=day, before_deadline=day <= deadline)
