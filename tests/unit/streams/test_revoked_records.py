"""A batch's records of a partition the worker no longer owns are left to the new owner."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings
from streams.worker import Worker


def event(partition: int, offset: int) -> Any:
    return SimpleNamespace(
        message=SimpleNamespace(partition=partition, offset=offset),
        value=f"{partition}:{offset}".encode(),
    )


def test_only_the_owned_partitions_of_a_batch_are_applied(tmp_path: Path) -> None:
    worker = Worker(WorkerSettings(state_dir=tmp_path), KafkaSettings(), TaxonomySettings().load())
    owned = {0, 2}
    worker.owned = lambda topic: owned  # type: ignore[method-assign]
    # partition 1 was revoked while its records waited in the stream
    batch = [event(1, 7), event(0, 3), event(2, 9), event(0, 4), event(1, 8)]

    groups = worker.appliers["payments"].owned_groups(batch)

    assert groups == [(0, [(3, b"0:3"), (4, b"0:4")]), (2, [(9, b"2:9")])]
    owned.add(1)  # given back to this worker: applied again
    assert [p for p, _ in worker.appliers["payments"].owned_groups(batch)] == [0, 1, 2]
