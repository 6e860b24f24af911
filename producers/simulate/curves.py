"""The shapes the simulator draws over time: adoption's logistic curve, a log-odds shift, and
event times spread over a span by an hour-of-day profile in Hanoi local time."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Sequence

from producers.simulate.calibration import DAY, HANOI_OFFSET

__all__ = ["HourClock", "cumulative", "logistic", "shift_log_odds"]


def logistic(share: float, growth: float, ceiling: float, day: float) -> float:
    """A logistic curve through `share` at day 0 with slope `growth` there, towards `ceiling`."""
    if share >= ceiling or growth <= 0.0:
        return share
    rate = growth / (share * (1.0 - share / ceiling))
    return ceiling / (1.0 + (ceiling / share - 1.0) * math.exp(-rate * day))


def shift_log_odds(p: float, logit_shift: float) -> float:
    """The probability `p` with its log-odds moved by `logit_shift` (0 and 1 stay put)."""
    if p <= 0.0 or p >= 1.0:
        return p
    odds = p / (1.0 - p) * math.exp(logit_shift)
    return odds / (1.0 + odds)


def cumulative(weights: Iterable[float]) -> list[float]:
    """Running sums of `weights`, for drawing by `bisect`."""
    return list(itertools.accumulate(weights))


class HourClock:
    """Places event times within a span of time by an hour-of-day profile in Hanoi local time."""

    def __init__(self, hours: Sequence[int]) -> None:
        self.cum = cumulative(hours)
        self.total = self.cum[-1]

    def times(self, rng: random.Random, t0: int, t1: int, count: int) -> list[int]:
        """`count` sorted integer times in `[t0, t1)`: in a day-long span, by hour of day."""
        span = t1 - t0
        if span <= 0:
            return [t0] * count
        rnd = rng.random
        if span < DAY:
            return sorted(t0 + int(rnd() * span) for _ in range(count))
        into_day = (t0 + HANOI_OFFSET) % DAY
        cum, total = self.cum, self.total
        out = []
        for _ in range(count):
            hour = bisect.bisect(cum, rnd() * total)
            local = hour * 3600 + int(rnd() * 3600)
            out.append(t0 + (local - into_day) % DAY)
        out.sort()
        return out
