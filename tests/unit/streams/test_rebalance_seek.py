"""The seek of the input partitions at the end of a rebalance (streams/faust_seam.py), run through
Faust's own `perform_seek` with aiokafka's consumer replaced by a recorder (no broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP

from cashless.settings import KafkaSettings, TaxonomySettings, WorkerSettings
from streams.faust_seam import Consumer
from streams.worker import Worker


class RecordingKafkaConsumer:
    """Stands for aiokafka's consumer in Faust's consumer thread: committed offsets in, seeks
    and the Faust consumer's flow state at each call out."""

    def __init__(self, faust_consumer: Any, committed: Mapping[TP, int | None]) -> None:
        self.faust_consumer = faust_consumer
        self.committed = dict(committed)
        self.calls: list[tuple[str, Any, bool]] = []
        self.round_trip = 0.01  # seconds, to the broker

    async def seek_to_committed(self) -> Mapping[TP, int | None]:
        self.calls.append(("seek_to_committed", None, self.faust_consumer.flow_active))
        await asyncio.sleep(self.round_trip)
        return self.committed

    def assignment(self) -> set[TP]:
        return set(self.committed)

    def seek(self, tp: TP, offset: int) -> None:
        self.calls.append(("seek", (tp, offset), self.faust_consumer.flow_active))


class Thread:
    """Faust's consumer thread, reduced to running a call on the consumer."""

    def __init__(self, kafka: RecordingKafkaConsumer) -> None:
        self.kafka = kafka

    def _ensure_consumer(self) -> RecordingKafkaConsumer:
        return self.kafka

    async def call_thread(self, fun: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return await fun(*args)


def consumer_with(
    tmp_path: Path, committed: Mapping[TP, int | None]
) -> tuple[Any, RecordingKafkaConsumer]:
    worker = Worker(WorkerSettings(state_dir=tmp_path), KafkaSettings(), TaxonomySettings().load())
    consumer: Any = worker.app.consumer
    assert isinstance(worker.app.consumer, Consumer), "the worker's app uses the safe consumer"
    kafka = RecordingKafkaConsumer(consumer, committed)
    consumer._thread = Thread(kafka)
    return consumer, kafka


EVENTS = "payments.events"
CHANGELOG = "cashless-payments-state-changelog"  # the worker's default app id


def test_the_seek_at_the_end_of_a_recovery_stops_the_flow_first(tmp_path: Path) -> None:
    committed = {TP(EVENTS, 0): 120, TP(EVENTS, 1): None, TP(EVENTS, 2): 0, TP(CHANGELOG, 0): None}
    consumer, kafka = consumer_with(tmp_path, committed)
    consumer.resume_flow()  # as Faust leaves it after reading the changelogs

    asyncio.run(consumer.perform_seek())

    assert kafka.calls == [
        ("seek_to_committed", None, False),
        # no committed offset (none or 0): to the start; changelog partitions are left alone
        ("seek", (TP(EVENTS, 1), 0), False),
        ("seek", (TP(EVENTS, 2), 0), False),
    ]
    assert consumer._read_offset[TP(EVENTS, 0)] == 120
    assert consumer._read_offset.get(TP(EVENTS, 1)) is None


def test_a_seek_from_the_fetcher_waits_for_the_one_in_progress(tmp_path: Path) -> None:
    consumer, kafka = consumer_with(tmp_path, {TP(EVENTS, 0): 5})
    consumer.resume_flow()

    async def both() -> None:
        first = asyncio.ensure_future(consumer.perform_seek())
        await asyncio.sleep(0)  # the first holds the lock and has stopped the flow
        second = asyncio.ensure_future(consumer.perform_seek())  # Faust's, from getmany
        await asyncio.sleep(0.005)
        assert [c[0] for c in kafka.calls] == ["seek_to_committed"], "the second one waits"
        await asyncio.gather(first, second)

    asyncio.run(both())
    assert [c[0] for c in kafka.calls] == ["seek_to_committed", "seek_to_committed"]
    assert consumer.flow_active is False, "Faust resumes the flow itself, after the seek"


def test_a_seek_at_the_end_of_a_recovery_that_hangs_crashes_the_worker(tmp_path: Path) -> None:
    """Faust would end its recovery for good, with the flow left stopped: a silent worker."""
    consumer, kafka = consumer_with(tmp_path, {TP(EVENTS, 0): 5})
    kafka.round_trip = 5.0
    consumer.app.conf.broker_request_timeout = 0.1
    crashes: list[BaseException] = []

    async def crash(exc: BaseException) -> None:
        crashes.append(exc)

    consumer.app.crash = crash
    consumer.resume_flow()

    with pytest.raises(TimeoutError):
        asyncio.run(consumer.perform_seek())
    assert len(crashes) == 1
    assert isinstance(crashes[0], TimeoutError)
