"""CPU time of the payment ledger alone: decoding, validation, dedup, windows; no Kafka, no Faust.

    .venv/bin/cashless simulate --seed 11 --days 30 --events-per-day 15000 \\
        --end 2026-11-20T00:00:00+07:00 --duplicates 0.02 --late 0.02 --bad-records 0.005 \\
        --out /tmp/run.jsonl
    .venv/bin/python -m bench.ledger_cpu /tmp/run.jsonl [--profile]

The payment lines of a `simulate --out` file are grouped, in file order, into records of up to
500 events of one `channel:segment` (as the Kafka sink groups them), spread over 12 partitions
by key, and handed to `PaymentLedger.process` in batches of 20 records per partition, as a
worker's agent would; after each round of batches every segment's and district's windows are
read at the stream time, as the worker's summaries and /metrics read them. The dedup index is
read from and each batch written to a RocksDB database in a temporary directory, as the worker's
local store is. Prints the events per CPU second of that loop, the best of `--reps` runs; a
worker's events/s in `make bench` is this plus Kafka, Faust and the changelog.

`--windows 1h` keeps the running sums of the 1-hour window only (the buckets are kept for 30 days
either way, for dedup and the trend): the cost of the longer windows is the difference.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import msgspec
import rocksdict

from cashless.eventtime import WINDOWS, window_end
from cashless.schema import EventDecoder
from cashless.settings import TaxonomySettings
from streams.ledger import PaymentLedger
from streams.local_store import write_batch

PARTITIONS = 12
EVENTS_PER_RECORD = 500
RECORDS_PER_BATCH = 20


def records_by_partition(path: Path) -> tuple[dict[int, list[tuple[int, bytes]]], int]:
    """The file's payment events as (offset, record) per partition, and how many events."""
    open_records: dict[bytes, list[bytes]] = defaultdict(list)
    partitions: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    events = 0

    def flush(key: bytes) -> None:
        lines = open_records.pop(key)
        partition = zlib.crc32(key) % PARTITIONS
        records = partitions[partition]
        records.append((len(records), b"[" + b",".join(lines) + b"]"))

    for line in path.read_bytes().splitlines():
        if b'"channel"' not in line:
            continue  # an account event
        try:
            item = msgspec.json.decode(line)
            key = f"{item['channel']}:{item['segment']}".encode()
        except (msgspec.DecodeError, UnicodeDecodeError, KeyError, TypeError):
            key = b"bad"
        events += 1
        open_records[key].append(line)
        if len(open_records[key]) == EVENTS_PER_RECORD:
            flush(key)
    for key in list(open_records):
        flush(key)
    return partitions, events


class RocksStore:
    """One RocksDB database for every partition (keys carry their partition)."""

    def __init__(self, path: str) -> None:
        self.db = rocksdict.Rdict(path, options=rocksdict.Options(raw_mode=True))

    def get_many(self, _partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        values: list[bytes | None] = self.db.get(list(keys)) if keys else []
        return values

    def scan(self, _partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self.db.items(from_key=prefix):
            if not key.startswith(prefix):
                return
            yield key, value

    def write(self, writes: Mapping[bytes, bytes | None]) -> None:
        self.db.write(write_batch(writes))


def run(partitions: dict[int, list[tuple[int, bytes]]], windows: Mapping[str, int]) -> float:
    decoder = EventDecoder(TaxonomySettings().load(), clock_skew_seconds=300)
    with tempfile.TemporaryDirectory(prefix="ledger-cpu-") as directory:
        store = RocksStore(directory)
        ledger = PaymentLedger(decoder, store, windows)
        start = time.process_time()  # CPU time: steadier than wall time on a shared machine
        feed(ledger, store, partitions)
        elapsed = time.process_time() - start
        store.db.close()
    return elapsed


def feed(
    ledger: PaymentLedger, store: RocksStore, partitions: dict[int, list[tuple[int, bytes]]]
) -> None:
    """Batches of `RECORDS_PER_BATCH` records per partition in turn, each stored once
    processed, and every window read after each round, as a worker does."""
    longest = max(len(records) for records in partitions.values())
    for first in range(0, longest, RECORDS_PER_BATCH):
        for partition, records in partitions.items():
            batch = records[first : first + RECORDS_PER_BATCH]
            if batch:
                outcome = ledger.process(partition, batch)
                store.write({**outcome.writes, **outcome.local})
        read_windows(ledger)


def read_windows(ledger: PaymentLedger) -> None:
    """Read every window of every segment and district at the stream time."""
    if ledger.stream_time is None:
        return
    end = window_end(ledger.stream_time)
    for partition in ledger.partitions:
        ledger.segments(partition, end)
        ledger.districts(partition, end)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("events", type=Path, help="a `cashless simulate --out` file")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one run")
    parser.add_argument(
        "--windows", choices=["all", "1h"], default="all", help="running sums kept (default all)"
    )
    args = parser.parse_args(argv)
    windows = {"1h": WINDOWS["1h"]} if args.windows == "1h" else WINDOWS
    partitions, events = records_by_partition(args.events)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run, partitions, windows)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return 0
    best = min(run(partitions, windows) for _ in range(args.reps))
    print(f"{events:,} payment events in {best:.2f} CPU s: {events / best:,.0f} events per CPU s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
