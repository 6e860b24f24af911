"""Window arithmetic over per-minute buckets, with running sums per window.

A `MinuteSeries` holds the counters of one cell (a segment, or a district of one partition) per
event-time minute, and the sum of each rolling window `W` over `[end − W, end)`. Every window
is a whole number of hours, so with `k = end mod 60` a window is its full hours from the hour
of `end − W` up to the hour before that of `end`, plus the first `k` minutes of the hour of
`end`, minus the first `k` minutes of the hour of `end − W`. The series keeps only hour sums in
memory (in one array per series, from its first hour held to its last), with the full-hours
sum of each window up to date as buckets change and as `end`
moves: the cost of an event does not grow with the window's length. The minutes themselves are
read through `detail` (an hour's minute buckets, from wherever the caller keeps them), only
for the hours that hold a window's end or start, and only when `k > 0`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence

from cashless.eventtime import MINUTE, WINDOWS

__all__ = ["WINDOW_MINUTES", "Detail", "MinuteSeries"]

WINDOW_MINUTES: Mapping[str, int] = {name: seconds // MINUTE for name, seconds in WINDOWS.items()}
_HOUR = 60
# Reads the minute buckets of one hour (epoch hour -> {epoch minute: counters}).
Detail = Callable[[int], Mapping[int, Sequence[int]]]


class MinuteSeries:
    """Counter vectors per event-time minute, as hour sums, and their rolling-window sums."""

    __slots__ = (
        "_base",
        "_detail",
        "_end_hour",
        "_full",
        "_hours",
        "_lengths",
        "_loaded",
        "_width",
    )

    def __init__(self, width: int, detail: Detail) -> None:
        self._width = width
        self._detail = detail
        # the counter sums of hours `_base`, `_base + 1`, …, `width` values each
        self._base = 0
        self._hours = array("q")
        self._end_hour: int | None = None
        # per window: the sums of the hours in [end hour − W, end hour)
        self._full: dict[str, list[int]] = {w: [0] * width for w in WINDOW_MINUTES}
        # (window, length in hours, full sums), longest first: the hot path of `add`
        self._lengths = tuple(
            (name, length // _HOUR, self._full[name])
            for name, length in sorted(WINDOW_MINUTES.items(), key=lambda item: -item[1])
        )
        # minute buckets of the hours read through `detail`, kept up to date by `add`
        self._loaded: dict[int, dict[int, list[int]]] = {}

    def hours(self) -> Iterator[int]:
        """The hours that hold a bucket (a non-zero first counter: the count)."""
        width = self._width
        for slot in range(0, len(self._hours), width):
            if self._hours[slot]:
                yield self._base + slot // width

    def add(self, minute: int, values: Sequence[int]) -> None:
        """Add the first `width` of `values` to the bucket of `minute` (an epoch minute)."""
        width = self._width
        hour = minute // _HOUR
        slot = (hour - self._base) * width
        hours = self._hours
        if not 0 <= slot < len(hours):
            slot = self._make_room(hour)
        for i in range(width):
            hours[slot + i] += values[i]
        loaded = self._loaded.get(hour)
        if loaded is not None:
            cell = loaded.get(minute)
            if cell is None:
                loaded[minute] = list(values[:width])
            else:
                for i in range(width):
                    cell[i] += values[i]
        end = self._end_hour
        if end is not None and hour < end:
            for _, length, sums in self._lengths:
                if hour < end - length:
                    break  # outside this window, so outside the shorter ones too
                for i in range(width):
                    sums[i] += values[i]

    def window(self, name: str, end: int) -> list[int]:
        """The counter sums over `[end − W, end)` (in minutes) for window `name`."""
        end_hour, k = divmod(end, _HOUR)
        self._advance(end_hour)
        sums = list(self._full[name])
        if k:
            start_hour = end_hour - WINDOW_MINUTES[name] // _HOUR
            for hour, sign in ((end_hour, 1), (start_hour, -1)):
                for minute, cell in self._minutes(hour).items():
                    if minute - hour * _HOUR < k:
                        for i in range(self._width):
                            sums[i] += sign * cell[i]
        return sums

    def prune(self, before: int) -> None:
        """Drop the buckets of the hours before minute `before` (a whole hour)."""
        assert before % _HOUR == 0, "prune whole hours"
        first = before // _HOUR
        if first <= self._base or not self._hours:
            return
        del self._hours[: (first - self._base) * self._width]
        self._base = first
        for hour in [h for h in self._loaded if h < first]:
            del self._loaded[hour]
        self._end_hour = None  # the full sums are rebuilt on the next read

    def _make_room(self, hour: int) -> int:
        """Extend the array to hold `hour`; its first slot."""
        width = self._width
        hours = self._hours
        if not hours:
            self._base = hour
            hours.extend([0] * width)
        elif hour < self._base:
            hours[0:0] = array("q", [0] * ((self._base - hour) * width))
            self._base = hour
        else:
            hours.extend([0] * ((hour - self._base + 1) * width - len(hours)))
        return (hour - self._base) * width

    def _count(self, hour: int) -> int:
        slot = (hour - self._base) * self._width
        return self._hours[slot] if 0 <= slot < len(self._hours) else 0

    def _minutes(self, hour: int) -> Mapping[int, Sequence[int]]:
        """The minute buckets of `hour`, read once through `detail` (none if the hour is empty)."""
        if not self._count(hour):
            return {}
        loaded = self._loaded.get(hour)
        if loaded is None:
            loaded = self._loaded[hour] = {
                minute: list(cell[: self._width]) for minute, cell in self._detail(hour).items()
            }
        return loaded

    def _advance(self, end_hour: int) -> None:
        """Move the windows' end to the start of hour `end_hour` (forwards or backwards)."""
        old = self._end_hour
        if old != end_hour:
            if old is None or abs(end_hour - old) > len(self._hours) // self._width:
                self._recompute(end_hour)
            else:
                for _, length, sums in self._lengths:
                    if end_hour > old:
                        self._shift(sums, range(old, end_hour), +1)
                        self._shift(sums, range(old - length, end_hour - length), -1)
                    else:
                        self._shift(sums, range(end_hour, old), -1)
                        self._shift(sums, range(end_hour - length, old - length), +1)
                self._end_hour = end_hour
        # keep the minutes of the hours a window starts or ends in, no others
        needed = {end_hour, *(end_hour - length for _, length, _ in self._lengths)}
        for hour in [h for h in self._loaded if h not in needed]:
            del self._loaded[hour]

    def _shift(self, sums: list[int], hours: range, sign: int) -> None:
        width = self._width
        held = len(self._hours) // width
        first = max(hours.start - self._base, 0)
        last = min(hours.stop - self._base, held)
        for slot in range(first * width, last * width, width):
            for i in range(width):
                sums[i] += sign * self._hours[slot + i]

    def _recompute(self, end_hour: int) -> None:
        for _, length, sums in self._lengths:
            sums[:] = [0] * self._width  # in place: `_lengths` holds the same lists
            self._shift(sums, range(end_hour - length, end_hour), +1)
        self._end_hour = end_hour
