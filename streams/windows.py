"""Window arithmetic over per-minute buckets, with running sums per window.

A `MinuteSeries` holds the buckets of one cell (a segment, or a district of one partition): for
each event-time minute a vector of counters. It keeps, for each rolling window `W`, the sum of
the buckets in `[end − W, end)` up to date as buckets change and as `end` moves, so reading a
window costs nothing and the cost of an event does not grow with the window's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cashless.truth import MINUTE, WINDOWS

__all__ = ["WINDOW_MINUTES", "MinuteSeries"]

WINDOW_MINUTES: Mapping[str, int] = {name: seconds // MINUTE for name, seconds in WINDOWS.items()}


class MinuteSeries:
    """Counter vectors per event-time minute and their sums over the rolling windows."""

    __slots__ = ("_buckets", "_end", "_lengths", "_sums", "_width")

    def __init__(self, width: int) -> None:
        self._width = width
        self._buckets: dict[int, list[int]] = {}
        self._end: int | None = None
        self._sums: dict[str, list[int]] = {w: [0] * width for w in WINDOW_MINUTES}
        # (length, sums) per window, longest first: the hot path of `add` in one tuple
        self._lengths = tuple(
            (length, self._sums[name])
            for name, length in sorted(WINDOW_MINUTES.items(), key=lambda item: -item[1])
        )

    @property
    def buckets(self) -> Mapping[int, Sequence[int]]:
        """The non-empty minutes and their counters."""
        return self._buckets

    def add(self, minute: int, values: Sequence[int]) -> None:
        """Add the first `width` of `values` to the bucket of `minute` (an epoch minute)."""
        width = self._width
        bucket = self._buckets.get(minute)
        if bucket is None:
            self._buckets[minute] = list(values[:width])
        else:
            for i in range(width):
                bucket[i] += values[i]
        end = self._end
        if end is not None and minute < end:
            for length, sums in self._lengths:
                if minute < end - length:
                    break  # outside this window, so outside the shorter ones too
                for i in range(width):
                    sums[i] += values[i]

    def window(self, name: str, end: int) -> Sequence[int]:
        """The counter sums over `[end − W, end)` (in minutes) for window `name`."""
        self.advance(end)
        return self._sums[name]

    def advance(self, end: int) -> None:
        """Move the windows' end to minute `end` (forwards or backwards)."""
        old = self._end
        if old == end:
            return
        if old is None or abs(end - old) > len(self._buckets):
            self._recompute(end)
            return
        for name, length in WINDOW_MINUTES.items():
            sums = self._sums[name]
            if end > old:
                self._shift(sums, range(old, end), +1)
                self._shift(sums, range(old - length, end - length), -1)
            else:
                self._shift(sums, range(end, old), -1)
                self._shift(sums, range(end - length, old - length), +1)
        self._end = end

    def prune(self, before: int) -> None:
        """Drop the buckets of minutes before `before` (the sums are rebuilt on the next read)."""
        dropped = [m for m in self._buckets if m < before]
        for minute in dropped:
            del self._buckets[minute]
        if dropped:
            self._end = None

    def _shift(self, sums: list[int], minutes: Iterable[int], sign: int) -> None:
        buckets = self._buckets
        for m in minutes:
            bucket = buckets.get(m)
            if bucket is not None:
                for i in range(self._width):
                    sums[i] += sign * bucket[i]

    def _recompute(self, end: int) -> None:
        for name, length in WINDOW_MINUTES.items():
            sums = [0] * self._width
            start = end - length
            for m, bucket in self._buckets.items():
                if start <= m < end:
                    for i in range(self._width):
                        sums[i] += bucket[i]
            self._sums[name][:] = sums  # in place: `_lengths` holds the same lists
        self._end = end
