"""Window arithmetic against a brute-force oracle (no broker).

The series reads an hour's minutes from the oracle's own buckets, as the ledger serves them
from its hour rows; every read is counted, to show the minutes are read only at window edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.windows import WINDOW_MINUTES, MinuteSeries

MONTH = WINDOW_MINUTES["30d"]
minutes = st.integers(min_value=0, max_value=3 * MONTH)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), minutes, st.integers(1, 5), st.integers(0, 5)),
        st.tuples(st.just("read"), minutes, st.sampled_from(sorted(WINDOW_MINUTES))),
        st.tuples(st.just("prune"), minutes.map(lambda m: m - m % 60)),
    ),
    max_size=60,
)


def brute_force(buckets: dict[int, list[int]], window: str, end: int) -> list[int]:
    start = end - WINDOW_MINUTES[window]
    sums = [0, 0]
    for minute, values in buckets.items():
        if start <= minute < end:
            sums = [a + b for a, b in zip(sums, values, strict=True)]
    return sums


class Oracle:
    """The buckets a series was given, served per hour as the series' `detail`."""

    def __init__(self) -> None:
        self.buckets: dict[int, list[int]] = {}
        self.reads: list[int] = []

    def detail(self, hour: int) -> Mapping[int, Sequence[int]]:
        self.reads.append(hour)
        return {m: v for m, v in self.buckets.items() if m // 60 == hour}


def series_of(width: int) -> tuple[MinuteSeries, Oracle]:
    oracle = Oracle()
    return MinuteSeries(width, oracle.detail), oracle


def add(series: MinuteSeries, oracle: Oracle, minute: int, values: tuple[int, ...]) -> None:
    series.add(minute, values)
    old = oracle.buckets.get(minute, [0] * len(values))
    oracle.buckets[minute] = [a + b for a, b in zip(old, values, strict=True)]


@settings(max_examples=400)
@given(operations)
def test_running_sums_equal_a_rescan(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    series, source = series_of(2)
    oracle = source.buckets
    for op in ops:
        if op[0] == "add":
            _, minute, n, noncash = op
            add(series, source, minute, (n, noncash))
        elif op[0] == "read":
            _, end, window = op
            assert list(series.window(window, end)) == brute_force(oracle, window, end)
        else:
            _, before = op
            series.prune(before)
            for m in [m for m in oracle if m < before]:
                del oracle[m]
    for window in WINDOW_MINUTES:
        for end in (0, MONTH, 3 * MONTH + 1):
            assert list(series.window(window, end)) == brute_force(oracle, window, end)


def test_window_is_half_open() -> None:
    series, oracle = series_of(1)
    add(series, oracle, 100, (1,))
    add(series, oracle, 160, (10,))
    assert list(series.window("1h", 160)) == [1]
    assert list(series.window("1h", 161)) == [10]
    assert list(series.window("1h", 220)) == [10]
    assert list(series.window("1h", 221)) == [0]


def test_adding_after_reading_updates_the_open_window() -> None:
    series, oracle = series_of(1)
    assert list(series.window("1d", 1000)) == [0]
    add(series, oracle, 999, (3,))
    add(series, oracle, 1000, (5,))
    assert list(series.window("1d", 1000)) == [3]


def test_minutes_are_read_only_for_the_hours_a_window_starts_or_ends_in() -> None:
    series, oracle = series_of(2)
    for minute in range(0, MONTH + 2 * 60, 7):  # 30 days and 2 hours of buckets
        add(series, oracle, minute, (1, minute % 2))
    end = MONTH + 90  # not on an hour: each window needs the minutes of two hours
    for window in WINDOW_MINUTES:
        assert series.window(window, end) == brute_force(oracle.buckets, window, end)
    hour = end // 60
    assert sorted(set(oracle.reads)) == sorted({hour, hour - 1, hour - 24, hour - 168, hour - 720})
    assert len(oracle.reads) == 5, "each hour read once"
    oracle.reads.clear()
    for window in WINDOW_MINUTES:
        series.window(window, MONTH + 60)  # on the hour: full hours only
    assert oracle.reads == []
