"""Memory the payment ledger keeps for N segments over D days of event time; no Kafka, no Faust.

    .venv/bin/python -m bench.ledger_memory [--segments 500] [--days 30] [--every 10]

Writes a taxonomy of N market segments (one per market, districts in turn) and, in event-time
order, one payment per segment every `--every` minutes for `--days` days, grouped as
`bench.ledger_cpu` groups a simulator file (records of one segment, 12 partitions, batches of
20 records), and runs them through `PaymentLedger` with its store in RocksDB in a temporary
directory, reading every window after each round as the worker does. Prints how much the
process's RSS grew while the ledger took the events (its state lives in the compiled kernel,
which `tracemalloc` does not see; the growth also holds RocksDB's caches), per segment, and the
process's RSS at the end.

The ledger keeps hour sums per segment and district in memory and reads minutes from its hour
rows in the store, so what it holds grows with segments × hours, not with events: `--every 1`
(a payment every minute in every segment) holds about what `--every 10` holds.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from bench.ledger_cpu import RocksStore, feed, records_by_partition
from cashless.schema import EventDecoder
from cashless.taxonomy import load_taxonomy
from streams.ledger import PaymentLedger

END = datetime(2026, 11, 20, tzinfo=UTC)
METHODS = ("cash", "qr", "card", "e_wallet", "bank_transfer")


def write_inputs(directory: Path, segments: int, days: int, every: int) -> tuple[Path, Path]:
    """The segments file and the JSON Lines payments of the run."""
    districts = sorted(load_taxonomy().districts)
    names = [f"bench-{i:04d}" for i in range(segments)]
    segments_file = directory / "segments.csv"
    rows = ["channel,segment,name,district"]
    rows += [
        f"market,{n},Bench market {n},{districts[i % len(districts)]}" for i, n in enumerate(names)
    ]
    segments_file.write_text("\n".join(rows) + "\n", "utf-8")
    events_file = directory / "events.jsonl"
    start = END - timedelta(days=days)
    encode = msgspec.json.encode
    with events_file.open("wb") as out:
        for step in range(days * 24 * 60 // every):
            at = (start + timedelta(minutes=step * every)).isoformat()
            for i, name in enumerate(names):
                event = {
                    "schema": 1,
                    "event_id": f"{name}-{step}",
                    "occurred_at": at,
                    "source": "bench-board",
                    "channel": "market",
                    "segment": name,
                    "district": districts[i % len(districts)],
                    "method": METHODS[(i + step) % len(METHODS)],
                    "amount_vnd": 10_000 + step % 997,
                }
                out.write(encode(event) + b"\n")
    return segments_file, events_file


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--every", type=int, default=10, help="minutes between a segment's payments"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ledger-memory-") as directory:
        segments_file, events_file = write_inputs(
            Path(directory), args.segments, args.days, args.every
        )
        taxonomy = load_taxonomy(segments_file=segments_file)
        partitions, events = records_by_partition(events_file)
        events_file.unlink()
        decoder = EventDecoder(taxonomy, clock=lambda: END.timestamp())
        store = RocksStore(str(Path(directory) / "store"))
        gc.collect()
        before = rss_mb()
        ledger = PaymentLedger(decoder, store)
        feed(ledger, store, partitions)
        del partitions
        gc.collect()
        held = (rss_mb() - before) * 1e6
        applied = sum(
            count
            for p in ledger.partitions
            for figures in ledger.segments(p, None)
            for count, _ in figures.totals.values()
        )
        store.db.close()
    print(
        f"{args.segments} segments, {args.days} days, a payment every {args.every} min: "
        f"{events:,} events ({applied:,} applied); "
        f"RSS grew by {held / 1e6:.1f} MB while the ledger took them (its state in the kernel, "
        f"and the store's caches): {held / args.segments / 1e3:.0f} kB per segment; "
        f"RSS {rss_mb():.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
