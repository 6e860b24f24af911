"""A table's local RocksDB store, written only with what its Kafka changelog already holds.

Faust's RocksDB store keeps one database per changelog partition, and in each the offset of the
last changelog record it holds; after a restart or a rebalance, recovery reads the changelog
only from that offset on. Faust writes a table key to RocksDB at once and records the offset
later, when the changelog send is acknowledged; a `kill -9` in between leaves keys on disk that
the changelog never got, which recovery would not undo.

So the worker writes here only after Kafka acknowledged a batch's changelog records, in one
atomic RocksDB write together with the offset of the last of them: the local database is always
a prefix of the changelog, and recovery completes it. Keys derived from the table's (the payment
ledger's dedup index, `e|…`) are written in the same atomic write but never sent to the
changelog; `items` leaves them out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import rocksdict

__all__ = ["STORE_OPTIONS", "LocalStore", "write_batch"]

# Per partition database: small memtables and block cache, so that memory stays bounded with
# 24 partitions open (Faust's defaults are 3 x 64 MB memtables and a 2 GB cache per database).
STORE_OPTIONS = {
    "driver": "rocksdict",
    "write_buffer_size": 4 * 1024**2,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 1024**2,
    "max_open_files": 64,
}
# Keys only this store holds, derived from the changelog's: not part of the table's items.
_LOCAL_ONLY = b"e|"
_AFTER_LOCAL_ONLY = b"e}"  # "}" follows "|": the first key past every local-only one


class LocalStore:
    """Reads and writes one Faust table's per-partition RocksDB databases."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def _db(self, partition: int) -> Any:
        # Faust opens a partition's database on first use and closes it when the partition is
        # revoked (when the last reference goes): never keep the returned object.
        return self._table.data._db_for_partition(partition)

    def get(self, partition: int, key: bytes) -> bytes | None:
        """The value of `key` in `partition`, or None."""
        value: bytes | None = self._db(partition).get(key)
        return value

    def get_many(self, partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values of `keys` in `partition` (None where absent), in one multi-get."""
        if not keys:
            return []
        values: list[bytes | None] = self._db(partition).get(list(keys))
        return values

    def scan(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of `partition` whose key starts with `prefix`, in key order."""
        for key, value in self._db(partition).items(from_key=prefix):
            if not key.startswith(prefix):
                return
            yield key, value

    def write(self, partition: int, writes: Mapping[bytes, bytes | None], offset: int) -> None:
        """Apply `writes` (None deletes) and record changelog `offset`, atomically."""
        batch = write_batch(writes)
        batch.put(self._table.data.offset_key, str(offset).encode())
        self._db(partition).write(batch)

    def put(self, partition: int, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply local-only `writes` (None deletes) atomically, leaving the changelog offset."""
        assert all(key.startswith(_LOCAL_ONLY) for key in writes), "only derived keys"
        self._db(partition).write(write_batch(writes))

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """Every table key of `partition` with its value (not the local-only keys)."""
        offset_key = self._table.data.offset_key
        db = self._db(partition)
        for key, value in db.items():
            if key.startswith(_LOCAL_ONLY):
                break
            if key != offset_key:
                yield key, value
        else:
            return
        # past the local-only range: from the first key after every `e|…` one
        for key, value in db.items(from_key=_AFTER_LOCAL_ONLY):
            if key != offset_key:
                yield key, value


def write_batch(writes: Mapping[bytes, bytes | None]) -> Any:
    """A RocksDB write batch of `writes` (None deletes)."""
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in writes.items():
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    return batch
