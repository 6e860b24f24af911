"""The worker's RocksDB databases share one memory budget, whatever the number of partitions."""

from __future__ import annotations

import os
from pathlib import Path

from streams.local_store import MEMTABLE_BYTES, SharedMemoryOptions, write_batch


def fill(db: object, megabytes: int, tag: bytes) -> None:
    value = os.urandom(1000)
    for chunk in range(megabytes):
        keys = (b"%s|%d|%d" % (tag, chunk, i) for i in range(1000))
        db.write(write_batch(dict.fromkeys(keys, value)))  # type: ignore[attr-defined]


def test_databases_opened_with_the_same_options_count_against_one_memtable_budget(
    tmp_path: Path,
) -> None:
    options = SharedMemoryOptions()
    first, second = (options.open(tmp_path / name) for name in ("first", "second"))
    fill(first, 1, b"a")
    after_first = options.memtable_bytes()
    fill(second, 1, b"b")
    assert after_first >= 1_000_000
    assert options.memtable_bytes() >= after_first + 1_000_000  # the second one's, same budget
    assert SharedMemoryOptions().memtable_bytes() == 0  # other options, another budget
    first.close()
    second.close()


def test_memtables_stay_within_the_budget_with_many_databases(tmp_path: Path) -> None:
    options = SharedMemoryOptions()
    databases = [options.open(tmp_path / str(i)) for i in range(24)]
    peak = 0
    for round_ in range(2):
        for i, db in enumerate(databases):  # 24 x 2 x 6 MB written: 288 MB, 9 x the budget
            fill(db, 6, b"%d|%d" % (round_, i))
            held = sum(db.property_int_value("rocksdb.cur-size-all-mem-tables") for db in databases)
            peak = max(peak, held)
    # each database alone may hold 2 x 4 MB (192 MB in all): only the shared budget bounds this,
    # softly (memtables being flushed still count, more so on a busy machine)
    assert peak <= MEMTABLE_BYTES * 2
    assert all(db.get(b"1|%d|5|999" % i) is not None for i, db in enumerate(databases))
    for db in databases:
        db.close()
