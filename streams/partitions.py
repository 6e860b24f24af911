"""What every ledger keeps per Kafka partition: the state of each partition it holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

import msgspec

__all__ = ["PartitionMeta", "PartitionStates"]


class PartitionMeta(msgspec.Struct):
    """Counters and clocks of one partition, persisted as one value."""

    last_offset: int = -1
    stream_time: float | None = None
    # `channel:segment` -> latest applied event time of that segment: its lateness clock
    clocks: dict[str, float] = msgspec.field(default_factory=dict)
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    duplicates: int = 0
    late: int = 0
    newest: dict[str, float] = msgspec.field(default_factory=dict)


class _HasMeta(Protocol):
    meta: PartitionMeta


S = TypeVar("S", bound=_HasMeta)


class PartitionStates(Generic[S]):
    """A ledger's per-partition states, each made on first use by `new(partition)`."""

    def __init__(self, new: Callable[[int], S]) -> None:
        self._new = new
        self._states: dict[int, S] = {}

    @property
    def partitions(self) -> Iterable[int]:
        """The partitions whose state this ledger holds."""
        return self._states.keys()

    def meta(self, partition: int) -> PartitionMeta:
        """The counters and clocks of one partition."""
        return self.state(partition).meta

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._states.pop(partition, None)

    def state(self, partition: int) -> S:
        """The state of one partition, made empty on first use."""
        found = self._states.get(partition)
        if found is None:
            found = self._states[partition] = self._new(partition)
        return found

    def states(self) -> Iterable[S]:
        """Every partition's state."""
        return self._states.values()
