"""Window arithmetic against a brute-force oracle (no broker)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.windows import WINDOW_MINUTES, MinuteSeries

MONTH = WINDOW_MINUTES["30d"]
minutes = st.integers(min_value=0, max_value=3 * MONTH)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), minutes, st.integers(1, 5), st.integers(0, 5)),
        st.tuples(st.just("read"), minutes, st.sampled_from(sorted(WINDOW_MINUTES))),
        st.tuples(st.just("prune"), minutes),
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


@settings(max_examples=400)
@given(operations)
def test_running_sums_equal_a_rescan(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    series = MinuteSeries(2)
    oracle: dict[int, list[int]] = {}
    for op in ops:
        if op[0] == "add":
            _, minute, n, noncash = op
            series.add(minute, (n, noncash))
            old = oracle.get(minute, [0, 0])
            oracle[minute] = [old[0] + n, old[1] + noncash]
        elif op[0] == "read":
            _, end, window = op
            assert list(series.window(window, end)) == brute_force(oracle, window, end)
        else:
            _, before = op
            series.prune(before)
            oracle = {m: v for m, v in oracle.items() if m >= before}
    for window in WINDOW_MINUTES:
        for end in (0, MONTH, 3 * MONTH + 1):
            assert list(series.window(window, end)) == brute_force(oracle, window, end)


def test_window_is_half_open() -> None:
    series = MinuteSeries(1)
    series.add(100, (1,))
    series.add(160, (10,))
    assert list(series.window("1h", 160)) == [1]
    assert list(series.window("1h", 161)) == [10]
    assert list(series.window("1h", 220)) == [10]
    assert list(series.window("1h", 221)) == [0]


def test_adding_after_reading_updates_the_open_window() -> None:
    series = MinuteSeries(1)
    assert list(series.window("1d", 1000)) == [0]
    series.add(999, (3,))
    series.add(1000, (5,))
    assert list(series.window("1d", 1000)) == [3]
