"""The worker's watch over its own progress: input partitions it owns and does not move on.

A worker that owns a partition and makes no progress on it is otherwise silent; the warning names
what decides whether the partition is fetched, so that the cause shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka.errors import KafkaError
from faust.types import TP

from streams.faust_seam import flow_state

__all__ = ["STALL_CHECK_SECONDS", "ProgressWatch", "stalled_partitions", "unapplied_partitions"]

logger = logging.getLogger(__name__)

STALL_CHECK_SECONDS = 10.0


class ProgressWatch:
    """Compares, every `STALL_CHECK_SECONDS`, where each owned input partition stands."""

    def __init__(
        self, app: Any, inputs: frozenset[str], applied: Callable[[TP], int | None]
    ) -> None:
        self._app = app
        self._inputs = inputs
        self._applied_of = applied  # the offset of a partition's last applied record, if held
        self._positions: dict[TP, int | None] = {}
        self._applied: dict[TP, int] = {}

    async def check(self) -> None:
        """Log the input partitions that have records to read but did not move since last time,
        and those read to their end whose last records were never applied."""
        consumer: Any = self._app.consumer
        assigned = sorted(tp for tp in consumer.assignment() if tp.topic in self._inputs)
        try:
            ends = await consumer.highwaters(*assigned) if assigned else {}
            positions = {tp: await consumer.position(tp) for tp in assigned}
        except KafkaError as exc:  # e.g. a rebalance took a partition meanwhile: next time
            logger.debug("progress check skipped: %s", exc)
            return
        stalled = stalled_partitions(self._positions, positions, ends)
        self._positions = positions
        self._report_unapplied(consumer, positions, ends)
        if stalled:
            logger.warning(
                "no progress for %.0f s on %s; in recovery: %s, flow: %s, flow control: %s",
                STALL_CHECK_SECONDS,
                ", ".join(
                    f"{tp.topic}[{tp.partition}] at {positions[tp]} of {ends[tp]}"
                    f" ({_described(flow_state(consumer, tp), 'paused', 'active')})"
                    for tp in stalled
                ),
                self._app.tables.recovery.in_recovery,
                consumer.flow_active,
                self._app.flow_control.is_active(),
            )

    def _report_unapplied(
        self, consumer: Any, positions: Mapping[TP, int | None], ends: Mapping[TP, int]
    ) -> None:
        applied = {tp: last for tp in positions if (last := self._applied_of(tp)) is not None}
        unapplied = unapplied_partitions(self._applied, applied, positions, ends)
        self._applied = applied
        if unapplied:
            logger.warning(
                "read to the end but not applied for %.0f s: %s",
                STALL_CHECK_SECONDS,
                ", ".join(
                    f"{tp.topic}[{tp.partition}] applied to {applied[tp]} of {ends[tp]}"
                    f" ({_described(flow_state(consumer, tp), 'read offset', 'committed')})"
                    for tp in unapplied
                ),
            )


def _described(state: Mapping[str, Any], *names: str) -> str:
    return ", ".join(f"{name}: {state[name]}" for name in names)


def stalled_partitions(
    before: Mapping[TP, int | None], now: Mapping[TP, int | None], ends: Mapping[TP, int]
) -> list[TP]:
    """The partitions with records left to read whose position has not moved since `before`."""
    return [
        tp
        for tp, position in now.items()
        if position is not None and position < ends.get(tp, 0) and before.get(tp) == position
    ]


def unapplied_partitions(
    before: Mapping[TP, int],
    applied: Mapping[TP, int],
    positions: Mapping[TP, int | None],
    ends: Mapping[TP, int],
) -> list[TP]:
    """The partitions read to their end whose last applied offset is short of it and has not
    moved since `before`."""
    return [
        tp
        for tp, last in applied.items()
        if positions.get(tp) == ends.get(tp) and last < ends[tp] - 1 and before.get(tp) == last
    ]
