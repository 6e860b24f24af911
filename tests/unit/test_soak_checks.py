"""The soak's verdicts on memory and descriptors, on made-up samples."""

from __future__ import annotations

from typing import Any

from bench.soak.checks import SST_PER_DATABASE, caught_up, flat_checks
from bench.soak.sampling import Sample


def sample(t: float, **readings: Any) -> Sample:
    """A sample at `t` with the given readings, None for the others."""
    fields: dict[str, Any] = {
        "rss_mb": None,
        "fds": None,
        "sst_files": None,
        "cpu_s": None,
        "lag_records": None,
        "records_in": None,
        "events_counted": None,
    }
    return Sample(t=t, life=1, sending=True, pid=1, **{**fields, **readings})


def life(fds: list[int], sst: list[int], rss: float = 150.0) -> list[Sample]:
    return [
        sample(10.0 * i, rss_mb=rss, fds=n, sst_files=k)
        for i, (n, k) in enumerate(zip(fds, sst, strict=True))
    ]


def verdicts(rows: list[Sample], databases: int = 24) -> dict[str, bool]:
    return {check.name: check.ok for check in flat_checks(rows, databases)}


def test_table_files_of_a_new_store_may_grow_within_their_bound() -> None:
    sst = [0, 0, 2, 4, 6, 9, 11, 14, 18, 20, 22, 24]
    rows = life([160 + k for k in sst], sst)
    assert verdicts(rows) == {
        "rss_flat life 1": True,
        "fds_flat life 1": True,
        "sst_bounded life 1": True,
    }


def test_a_descriptor_leak_fails_even_with_the_table_files_flat() -> None:
    rows = life([160 + 3 * i for i in range(12)], [10] * 12)  # +3 a sample: a leak
    assert verdicts(rows)["fds_flat life 1"] is False


def test_more_table_files_than_the_databases_explain_fail() -> None:
    sst = [20] * 11 + [SST_PER_DATABASE * 24 + 1]
    rows = life([160 + k for k in sst], sst)
    assert verdicts(rows)["sst_bounded life 1"] is False
    assert verdicts(rows, databases=25)["sst_bounded life 1"] is True


def lags(points: list[tuple[float, int, float | None]]) -> list[Sample]:
    """Samples of (t, lag in records, events counted or None while no worker answers)."""
    return [sample(t, lag_records=lag, events_counted=counted) for t, lag, counted in points]


FIRST_LIFE = [(60.0 + 10 * i, 200 + i, 1000.0 + i) for i in range(30)]  # worst lag 229


def test_catching_up_is_timed_from_the_kill_to_the_lag_of_before() -> None:
    restart = [(360.0, 250, None), (370.0, 4000, None), (380.0, 9000, 1.0), (390.0, 3000, 2.0)]
    restart += [(400.0, 220, 3.0), (410.0, 230, 4.0), (420.0, 100, 5.0)]
    assert caught_up(lags(FIRST_LIFE + restart), killed_at=360.0) == 40.0


def test_a_restart_that_leaves_no_lag_behind_is_caught_up_at_its_first_answer() -> None:
    # The kill's own sample has no worker answering; a higher lag much later is the live load.
    restart = [(360.0, 225, None), (370.0, 40, 1.0), (380.0, 30, 2.0), (700.0, 228, 9.0)]
    restart += [(710.0, 100, 9.5)]
    assert caught_up(lags(FIRST_LIFE + restart), killed_at=360.0) == 10.0
