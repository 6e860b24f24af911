"""Faust's Kafka consumer, with the seek of the input partitions at the end of a rebalance made
safe: no record is dropped between the seek and the moment the streams start again.

At the end of a recovery Faust (faust-streaming 0.15, `Recovery._resume_streams`) resumes the
input partitions while the flow is still on from reading the changelogs, seeks them to their
committed offsets, and only then resumes flow control, which empties the streams' queues. The
records the fetcher delivered in between are dropped although their read offsets moved on: for a
partition with a committed offset they are lost when they came after the seek; for a partition
with none, aiokafka does not seek at all (`seek_to_committed` skips it) and they are always lost.
Seen after `kill -9` of a worker that had committed nothing: the restarted worker read some
partitions to their end and applied none of it. (The same class of bug as faust-streaming
issue 216, fixed there for apps without tables only.)

So here the seek stops the flow first (Faust resumes it right after the seek, having emptied the
queues), and seeks each input partition with no committed offset to its start: the streams then
start from the committed offsets, or from the start, in order. Records the worker had already
applied come again, which the ledgers count once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Set
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["Transport"]

SEEK_TIMEOUT_SHARE = 0.8  # of Faust's broker request timeout, which bounds the seek in recovery


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with `perform_seek` safe at the end of a rebalance."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seek_lock = asyncio.Lock()

    async def perform_seek(self) -> None:
        """Seek the input partitions to their committed offsets, or to their start."""
        at_recovery_end = self.flow_active
        if at_recovery_end:
            # At the end of a recovery: no record may reach a stream until Faust, right after
            # this seek, empties the queues and resumes the flow. The record the fetcher is
            # handing over is cancelled; its read offset is set before the committed offsets
            # (which need a round trip to the broker) overwrite it below.
            self.stop_flow()
        # Faust also seeks from the fetcher when records arrive while the flow is stopped: that
        # seek waits for this one, then seeks again (the fetcher delivers nothing meanwhile).
        async with self._seek_lock:
            if not at_recovery_end:
                await super().perform_seek()
                return
            # Faust gives up its recovery for good when this seek outlasts its request timeout,
            # and the flow stopped above would then never resume: crash instead, loudly.
            timeout = SEEK_TIMEOUT_SHARE * self.app.conf.broker_request_timeout
            try:
                await asyncio.wait_for(super().perform_seek(), timeout=timeout)
            except TimeoutError as exc:
                await self.app.crash(exc)
                raise

    async def seek_to_committed(self) -> Any:
        """Seek to the committed offsets, and an input partition without one to its start."""
        thread: Any = self._thread
        changelogs = self.app.tables.changelog_topics  # read by recovery, never committed
        return await thread.call_thread(
            _seek_to_committed_or_start, thread._ensure_consumer(), changelogs
        )


async def _seek_to_committed_or_start(
    consumer: AIOKafkaConsumer, changelogs: Set[str]
) -> Mapping[TopicPartition, int | None]:
    """In the consumer's thread: seek every assigned partition to its committed offset, and the
    input partitions with none (or 0) to offset 0 (`auto_offset_reset` applies when it is gone).
    """
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    assigned = consumer.assignment()
    for tp, offset in committed.items():
        if not offset and tp.topic not in changelogs and tp in assigned:
            consumer.seek(tp, 0)
    return committed


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer above."""

    Consumer: ClassVar[type[Consumer]] = Consumer
