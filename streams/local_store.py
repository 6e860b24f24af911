"""A table's local RocksDB store, written only with what its Kafka changelog already holds.

Faust's RocksDB store keeps one database per changelog partition, and in each the offset of the
last changelog record it holds; after a restart or a rebalance, recovery reads the changelog
only from that offset on. Faust writes a table key to RocksDB at once and records the offset
later, when the changelog send is acknowledged; a `kill -9` in between leaves keys on disk that
the changelog never got, which recovery would not undo.

So the worker writes here only after Kafka acknowledged a batch's changelog records, in one
atomic RocksDB write together with the offset of the last of them: the local database is always
a prefix of the changelog, and recovery completes it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import rocksdict

__all__ = ["STORE_OPTIONS", "LocalStore"]

# Per partition database: small memtables and block cache, so that memory stays bounded with
# 24 partitions open (Faust's defaults are 3 x 64 MB memtables and a 2 GB cache per database).
STORE_OPTIONS = {
    "driver": "rocksdict",
    "write_buffer_size": 4 * 1024**2,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 1024**2,
    "max_open_files": 64,
}


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

    def write(self, partition: int, writes: Mapping[bytes, bytes | None], offset: int) -> None:
        """Apply `writes` (None deletes) and record changelog `offset`, atomically."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(self._table.data.offset_key, str(offset).encode())
        self._db(partition).write(batch)

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """Every table key of `partition` with its value."""
        offset_key = self._table.data.offset_key
        for key, value in self._db(partition).items():
            if key != offset_key:
                yield key, value
