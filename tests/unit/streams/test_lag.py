"""The consumer-lag collector: end minus position per owned input partition, nothing else."""

from __future__ import annotations

from typing import Any

from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from streams.lag import LAG_METRIC, ConsumerLag


class _Consumer:
    """What the collector reads of Faust's consumer: assignment, highwater and read offsets."""

    def __init__(self) -> None:
        self.ends = {
            TP("p.payments.events", 0): 120,
            TP("p.payments.events", 1): 7,
            TP("p.payments.events", 2): 4,
            TP("p.payments.accounts", 0): -1,
            TP("p.payments.summaries", 0): 50,
        }
        self._read_offset: dict[TP, int | None] = {TP("p.payments.events", 0): 99}
        self._committed_offset: dict[TP, int | None] = {TP("p.payments.events", 1): 2}

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]


def test_lag_is_the_records_between_position_and_end_of_each_owned_input_partition() -> None:
    registry = CollectorRegistry()
    consumer: Any = _Consumer()
    ConsumerLag(lambda: consumer, {"p.payments.events", "p.payments.accounts"}, registry)
    text = generate_latest(registry).decode()
    lines = sorted(line for line in text.splitlines() if line.startswith(LAG_METRIC))
    assert lines == [
        f'{LAG_METRIC}{{partition="0",topic="p.payments.events"}} 20.0',  # read 99: next is 100
        f'{LAG_METRIC}{{partition="1",topic="p.payments.events"}} 5.0',  # committed 2, none read
        f'{LAG_METRIC}{{partition="2",topic="p.payments.events"}} 4.0',  # nothing read yet
    ]  # the accounts partition's end is not known yet; summaries is not an input topic


def test_no_consumer_yet_exports_no_series() -> None:
    registry = CollectorRegistry()
    ConsumerLag(lambda: None, {"t"}, registry)
    assert LAG_METRIC + "{" not in generate_latest(registry).decode()
