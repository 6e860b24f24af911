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
from faust.stores.rocksdb import RocksDBOptions

from streams.faust_seam import databases_open, offset_key, partition_db, use_rocksdb_options

__all__ = ["STORE_OPTIONS", "LocalStore", "SharedMemoryOptions", "write_batch"]

# Faust's store options for the tables: its RocksDB driver; the rest is `SharedMemoryOptions`.
STORE_OPTIONS = {"driver": "rocksdict"}
# For all of a worker's databases together (2 tables x 12 partitions): Faust gives each its own
# memtables and block cache (3 x 64 MB and 2 GB by default), so memory grows with the partitions.
MEMTABLE_BYTES = 32 * 1024**2
BLOCK_CACHE_BYTES = 32 * 1024**2
MAX_OPEN_FILES = 64  # per database
# Keys only this store holds, derived from the changelog's: not part of the table's items.
_LOCAL_ONLY = b"e|"
_AFTER_LOCAL_ONLY = b"e}"  # "}" follows "|": the first key past every local-only one


class SharedMemoryOptions(RocksDBOptions):
    """Faust's RocksDB options, with one memtable budget and one block cache for every database
    opened with them: RocksDB flushes the memtable of the database being written to when all
    memtables together reach `MEMTABLE_BYTES`."""

    def __init__(self) -> None:
        super().__init__(
            write_buffer_size=4 * 1024**2,  # one database's memtable, at most
            max_write_buffer_number=2,
            use_rocksdict=True,
        )
        self._memtables = rocksdict.WriteBufferManager(MEMTABLE_BYTES, False)
        self._block_cache = rocksdict.Cache(BLOCK_CACHE_BYTES)

    def as_options(self) -> Any:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(MAX_OPEN_FILES)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(self._memtables)
        # Each flushed memtable is merged into the database's one sorted run at once, so that a
        # database holds one or two table files (open descriptors), not up to five.
        options.set_level_zero_file_num_compaction_trigger(1)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self._block_cache)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options

    def memtable_bytes(self) -> int:
        """What the memtables of every database opened with these options hold now."""
        used: int = self._memtables.get_usage()
        return used


class LocalStore:
    """Reads and writes one Faust table's per-partition RocksDB databases."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def share(self, options: SharedMemoryOptions) -> None:
        """Open this table's databases with `options` (before the first one opens)."""
        assert not databases_open(self._table), "a database is open already"
        use_rocksdb_options(self._table, options)

    def _db(self, partition: int) -> Any:
        return partition_db(self._table, partition)

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
        batch.put(offset_key(self._table), str(offset).encode())
        self._db(partition).write(batch)

    def put(self, partition: int, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply local-only `writes` (None deletes) atomically, leaving the changelog offset."""
        assert all(key.startswith(_LOCAL_ONLY) for key in writes), "only derived keys"
        self._db(partition).write(write_batch(writes))

    def items(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """Every table key of `partition` with its value (not the local-only keys)."""
        own_offset = offset_key(self._table)
        db = self._db(partition)
        for key, value in db.items():
            if key.startswith(_LOCAL_ONLY):
                break
            if key != own_offset:
                yield key, value
        else:
            return
        # past the local-only range: from the first key after every `e|…` one
        for key, value in db.items(from_key=_AFTER_LOCAL_ONLY):
            if key != own_offset:
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
