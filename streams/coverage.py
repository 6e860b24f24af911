"""Account coverage: who holds at least one open e-payment account, per district, per partition.

Pure logic, like the payment ledger. The state of one account `(holder, source)` is its event
with the latest `occurred_at` (ties: `closed` wins, then the larger `event_id`), so applying an
event twice or in any order gives the same state: recovery needs no offset bookkeeping for it.
A person is covered while any of their accounts is open, and counts in the district of their
latest account event. All accounts of a person share the partition of their `holder` key.

Memory stays bounded by the batch, not by the number of holders: a person's accounts live in the
table's store on disk (key `a|P|holder`, value `{source: state}`) and are read through `load`
when an event of theirs arrives; only the covered count per district is kept in memory, rebuilt
on recovery by one pass over the partition's keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from cashless.schema import EventDecoder
from streams.ledger import BatchOutcome
from streams.partitions import PartitionMeta, PartitionStates
from streams.poison import Excluded, split_excluded

__all__ = ["AccountLedger", "AccountState", "Load"]

# Reads one persisted value of a partition's store: (partition, key) -> value or None.
Load = Callable[[int, bytes], bytes | None]


class AccountState(msgspec.Struct, array_like=True, frozen=True):
    """The latest event of one account, as persisted."""

    occurred_at: float
    closed: bool
    event_id: str
    district: str

    def rank(self) -> tuple[float, bool, str]:
        """The order in which account events supersede each other."""
        return self.occurred_at, self.closed, self.event_id


_decode_accounts = msgspec.json.Decoder(dict[str, AccountState]).decode


@dataclass
class _Partition:
    meta: PartitionMeta = field(default_factory=PartitionMeta)
    holders: dict[str, int] = field(default_factory=dict)


class AccountLedger(PartitionStates[_Partition]):
    """Keeps the covered persons per district, per partition; each person's accounts via `load`."""

    def __init__(self, decoder: EventDecoder, load: Load) -> None:
        super().__init__(lambda partition: _Partition())
        self._decoder = decoder
        self._load = load

    def holders(self, partition: int) -> Mapping[str, int]:
        """Covered persons per district among this partition's holders."""
        return self.state(partition).holders

    def process(
        self,
        partition: int,
        records: Sequence[tuple[int, bytes]],
        excluded: Excluded | None = None,
    ) -> BatchOutcome:
        """Apply the `(offset, value)` records of one partition, in offset order; the events
        (or records) in `excluded` are rejected as `processing_error` (`streams.poison`)."""
        state = self.state(partition)
        meta = state.meta
        outcome = BatchOutcome()
        p = str(partition)
        # The accounts of the persons this batch touched, read once and written once.
        touched: dict[str, dict[str, AccountState]] = {}
        dirty: set[str] = set()
        for offset, value in records:
            fresh = offset > meta.last_offset
            events, rejections = split_excluded(
                offset, value, self._decoder.decode_accounts, excluded or {}
            )
            for rejection, raw in rejections:
                outcome.rejections.append((offset, rejection, raw))
                if fresh:
                    meta.rejected[rejection.reason] = meta.rejected.get(rejection.reason, 0) + 1
            for _, event in events:
                t = event.occurred_at.timestamp()
                if fresh:
                    meta.newest[event.source] = max(meta.newest.get(event.source, t), t)
                accounts = touched.get(event.holder)
                if accounts is None:
                    stored = self._load(partition, f"a|{p}|{event.holder}".encode())
                    accounts = touched[event.holder] = (
                        {} if stored is None else _decode_accounts(stored)
                    )
                new = AccountState(t, event.type == "closed", event.event_id, event.district)
                old = accounts.get(event.source)
                if old is not None and old.rank() >= new.rank():
                    continue
                before = _person(accounts)
                accounts[event.source] = new
                _move(state.holders, before, _person(accounts))
                dirty.add(event.holder)
            if fresh:
                meta.last_offset = offset
        for holder in sorted(dirty):
            outcome.writes[f"a|{p}|{holder}".encode()] = msgspec.json.encode(touched[holder])
        outcome.writes[f"p|{p}".encode()] = msgspec.json.encode(meta)
        return outcome

    def restore(self, key: bytes, value: bytes | None) -> dict[bytes, bytes | None]:
        """Rebuild from one persisted (key, value); each key is restored once. Nothing to add
        to the local store (the accounts table has no index of its own)."""
        kind, partition, *_ = key.decode().split("|")
        state = self.state(int(partition))
        if value is None:
            return {}
        if kind == "p":
            state.meta = msgspec.json.decode(value, type=PartitionMeta)
        elif kind == "a":
            _move(state.holders, None, _person(_decode_accounts(value)))
        return {}


def _person(accounts: Mapping[str, AccountState]) -> str | None:
    """The district a person counts in when covered, or None when no account is open."""
    if not any(not a.closed for a in accounts.values()):
        return None
    return max(accounts.values(), key=AccountState.rank).district


def _move(holders: dict[str, int], before: str | None, after: str | None) -> None:
    """Move one person's count from district `before` to `after` (None: not covered)."""
    if before == after:
        return
    if before is not None:
        holders[before] -= 1
        if not holders[before]:
            del holders[before]
    if after is not None:
        holders[after] = holders.get(after, 0) + 1
