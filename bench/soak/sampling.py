"""The soak's samples: the worker's RSS, descriptors and CPU, its group's lag, what it counted."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from bench.harness.metrics import samples

__all__ = ["COUNTED", "GroupLag", "Sample", "counted", "proc_status"]

# /metrics series that count every payment event a worker took in, whatever became of it.
COUNTED = (
    "cashless_payments_total",
    "cashless_events_duplicate_total",
    "cashless_events_late_total",
    "cashless_events_rejected_total",
)


@dataclass
class Sample:
    """One reading, `t` seconds after the simulator started."""

    t: float
    life: int
    sending: bool
    pid: int
    rss_mb: float | None
    fds: int | None
    sst_files: int | None  # of `fds`: RocksDB table files
    cpu_s: float | None
    lag_records: int | None
    records_in: int | None
    events_counted: float | None


class GroupLag:
    """Consumer lag of one group on some topics, from the broker (kafka-python admin client)."""

    def __init__(self, bootstrap: str, group: str, topics: dict[str, int]) -> None:
        self.group = group
        self.partitions = [TopicPartition(t, p) for t, n in topics.items() for p in range(n)]
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)

    def read(self) -> tuple[int, int] | None:
        """(lag, end offsets) summed over the partitions; a partition without a committed offset
        counts from 0. None when the broker did not answer."""
        try:
            ends = self.admin.list_partition_offsets(
                {tp: OffsetSpec.LATEST for tp in self.partitions}
            )
            committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        except KafkaError:
            return None
        lag = end_total = 0
        for tp in self.partitions:
            end = ends[tp].offset
            done = committed[tp].offset if tp in committed else 0
            end_total += end
            lag += max(0, end - max(done, 0))
        return lag, end_total

    def close(self) -> None:
        self.admin.close()


def proc_status(pid: int) -> tuple[float | None, int | None, int | None]:
    """VmRSS in MB, the number of open file descriptors of `pid`, and how many of them are
    RocksDB table files (`*.sst`); None when it is gone."""
    try:
        rss = next(
            int(line.split()[1]) / 1024
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, StopIteration):
        return None, None, None
    targets = []
    for fd in fds:
        with contextlib.suppress(OSError):  # closed since the listing
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return rss, len(fds), sum(target.endswith(".sst") for target in targets)


def counted(text: str | None) -> float | None:
    if text is None:
        return None
    return sum(v for (name, _), v in samples(text).items() if name in COUNTED)
