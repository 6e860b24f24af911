"""The soak's verdicts on memory and descriptors, on made-up samples."""

from __future__ import annotations

from bench.soak.checks import SST_PER_DATABASE, flat_checks
from bench.soak.sampling import Sample


def life(fds: list[int], sst: list[int], rss: float = 150.0) -> list[Sample]:
    return [
        Sample(
            t=10.0 * i,
            life=1,
            sending=True,
            pid=1,
            rss_mb=rss,
            fds=n,
            sst_files=k,
            cpu_s=None,
            lag_records=None,
            records_in=None,
            events_counted=None,
        )
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
