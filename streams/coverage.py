"""Account coverage: who holds at least one open e-payment account, per district, per partition.

Pure logic, like the payment ledger. The state of one account `(holder, source)` is its event
with the latest `occurred_at` (ties: `closed` wins, then the larger `event_id`), so applying an
event twice or in any order gives the same state: recovery needs no offset bookkeeping for it.
A person is covered while any of their accounts is open, and counts in the district of their
latest account event. All accounts of a person share the partition of their `holder` key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from cashless.schema import AccountEvent, EventDecoder
from streams.ledger import BatchOutcome, PartitionMeta

__all__ = ["AccountLedger", "AccountState"]


class AccountState(msgspec.Struct, array_like=True, frozen=True):
    """The latest event of one account, as persisted."""

    occurred_at: float
    closed: bool
    event_id: str
    district: str

    def rank(self) -> tuple[float, bool, str]:
        """The order in which account events supersede each other."""
        return self.occurred_at, self.closed, self.event_id


@dataclass
class _Partition:
    meta: PartitionMeta = field(default_factory=PartitionMeta)
    accounts: dict[str, dict[str, AccountState]] = field(default_factory=dict)
    holders: dict[str, int] = field(default_factory=dict)


class AccountLedger:
    """Keeps each account's latest state and the covered persons per district, per partition."""

    def __init__(self, decoder: EventDecoder) -> None:
        self._decoder = decoder
        self._partitions: dict[int, _Partition] = {}

    @property
    def partitions(self) -> Iterable[int]:
        """The partitions whose state this ledger holds."""
        return self._partitions.keys()

    def meta(self, partition: int) -> PartitionMeta:
        """The counters of one partition."""
        return self._partition(partition).meta

    def holders(self, partition: int) -> Mapping[str, int]:
        """Covered persons per district among this partition's holders."""
        return self._partition(partition).holders

    def process(self, partition: int, records: Sequence[tuple[int, bytes]]) -> BatchOutcome:
        """Apply the `(offset, value)` records of one partition, in offset order."""
        state = self._partition(partition)
        meta = state.meta
        outcome = BatchOutcome()
        dirty: set[tuple[str, str]] = set()
        for offset, value in records:
            fresh = offset > meta.last_offset
            result = self._decoder.decode_accounts(value)
            for rejection in result.rejections:
                outcome.rejections.append((offset, rejection, value))
                if fresh:
                    meta.rejected[rejection.reason] = meta.rejected.get(rejection.reason, 0) + 1
            for event in result.events:
                t = event.occurred_at.timestamp()
                if fresh:
                    meta.newest[event.source] = max(meta.newest.get(event.source, t), t)
                if self._apply(state, event, t):
                    dirty.add((event.holder, event.source))
            if fresh:
                meta.last_offset = offset
        p = str(partition)
        for holder, source in dirty:
            key = f"a|{p}|{holder}|{source}".encode()
            outcome.writes[key] = msgspec.json.encode(state.accounts[holder][source])
        outcome.writes[f"p|{p}".encode()] = msgspec.json.encode(meta)
        return outcome

    def _apply(self, state: _Partition, event: AccountEvent, t: float) -> bool:
        new = AccountState(t, event.type == "closed", event.event_id, event.district)
        accounts = state.accounts.get(event.holder)
        old = None if accounts is None else accounts.get(event.source)
        if old is not None and old.rank() >= new.rank():
            return False
        self._set(state, event.holder, event.source, new)
        return True

    def _set(self, state: _Partition, holder: str, source: str, account: AccountState) -> None:
        accounts = state.accounts.setdefault(holder, {})
        before = _person(accounts)
        accounts[source] = account
        after = _person(accounts)
        if before != after:
            if before is not None:
                state.holders[before] -= 1
                if not state.holders[before]:
                    del state.holders[before]
            if after is not None:
                state.holders[after] = state.holders.get(after, 0) + 1

    def restore(self, key: bytes, value: bytes | None) -> None:
        """Rebuild from one persisted (key, value)."""
        kind, partition, *rest = key.decode().split("|")
        state = self._partition(int(partition))
        if value is None:
            return
        if kind == "p":
            state.meta = msgspec.json.decode(value, type=PartitionMeta)
        elif kind == "a":
            holder, source = rest
            self._set(state, holder, source, msgspec.json.decode(value, type=AccountState))

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._partitions.pop(partition, None)

    def _partition(self, partition: int) -> _Partition:
        state = self._partitions.get(partition)
        if state is None:
            state = self._partitions[partition] = _Partition()
        return state


def _person(accounts: Mapping[str, AccountState]) -> str | None:
    """The district a person counts in when covered, or None when no account is open."""
    if not any(not a.closed for a in accounts.values()):
        return None
    return max(accounts.values(), key=AccountState.rank).district
