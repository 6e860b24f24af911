"""The peer: the job written with Quix Streams, in one of three configurations (`--job`).

Common to all three: records are decoded with the project's decoder and expanded into one row
per event, state is Quix's RocksDB store with its changelog topics, checkpointed every 5 s (its
defaults), and the process times itself like every contender (`tally`). The configurations:

- `hopping`: the rolling share, Quix's idiomatic windowed aggregation. The row's event time
  becomes the message timestamp (`set_timestamp`), and a hopping window per record key (the key
  is `channel:segment`) aggregates the event count and the non-cash count
  (`.agg(events=Count(), noncash=Sum("noncash")).current()`, the live rolling value): every
  event updates `window / step` windows.
- `tumbling`: the same with a tumbling window of `--window-minutes` (one minute in `make bench`)
  aggregating the event count and the sum of the amounts: one window update per event.
- `count`: no window; a per-key `State` holding the event count and the sum of the amounts,
  updated once per event (`apply(..., stateful=True)`).

Late events are dropped by the windowed configurations without a log line per event.

Quix Streams caps pydantic below the project's version, so `make bench` runs this file with the
Python of a separate virtualenv (`.venv/bench-peer`, the project's `bench` extra).

    python -m bench.contenders.quix_peer --job hopping|tumbling|count --bootstrap HOST:PORT \\
        --topic-prefix P --group G --state-dir DIR --expect N --cap SECONDS --result FILE
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.dataframe.windows import Count, Sum
from quixstreams.state import State

from bench.contenders.options import contender_parser
from bench.contenders.tally import Tally, taxonomy_decoder
from cashless.schema import PaymentEvent
from cashless.topics import Topics

__all__ = ["JOBS", "run"]

Row = dict[str, Any]


@dataclass(frozen=True)
class _Job:
    """One configuration: the row kept of each event, and the aggregation of the rows."""

    row: Callable[[PaymentEvent], Row]
    aggregate: Callable[[StreamingDataFrame, argparse.Namespace], StreamingDataFrame]


def _event_ms(event: PaymentEvent) -> int:
    return int(event.occurred_at.timestamp() * 1000)


def _quiet(*_: Any) -> bool:
    return False  # late events are dropped without a log line per event


def _hopping(sdf: StreamingDataFrame, args: argparse.Namespace) -> StreamingDataFrame:
    return (
        _by_event_time(sdf)
        .hopping_window(
            duration_ms=args.window_minutes * 60_000,
            step_ms=args.step_minutes * 60_000,
            on_late=_quiet,
        )
        .agg(events=Count(), noncash=Sum("noncash"))
        .current()
    )


def _tumbling(sdf: StreamingDataFrame, args: argparse.Namespace) -> StreamingDataFrame:
    return (
        _by_event_time(sdf)
        .tumbling_window(duration_ms=args.window_minutes * 60_000, on_late=_quiet)
        .agg(events=Count(), amount=Sum("amount"))
        .current()
    )


def _count(sdf: StreamingDataFrame, args: argparse.Namespace) -> StreamingDataFrame:
    def add(row: Row, state: State) -> Row:
        before = state.get("totals") or {"events": 0, "amount": 0}
        totals = {"events": before["events"] + 1, "amount": before["amount"] + row["amount"]}
        state.set("totals", totals)
        return totals

    return sdf.apply(add, stateful=True)


def _by_event_time(sdf: StreamingDataFrame) -> StreamingDataFrame:
    return sdf.set_timestamp(lambda value, key, timestamp, headers: value["ts"])


JOBS: dict[str, _Job] = {
    "hopping": _Job(
        row=lambda e: {"ts": _event_ms(e), "noncash": e.method != "cash"}, aggregate=_hopping
    ),
    "tumbling": _Job(
        row=lambda e: {"ts": _event_ms(e), "amount": e.amount_vnd}, aggregate=_tumbling
    ),
    "count": _Job(row=lambda e: {"amount": e.amount_vnd}, aggregate=_count),
}


def run(args: argparse.Namespace) -> None:
    """Read the topic under a new group with the configuration `args.job`, until the end or
    the cap; the process ends when its result file is written."""
    job = JOBS[args.job]
    decoder = taxonomy_decoder()
    tally = Tally(args.result, expect=args.expect, cap=args.cap)
    done = [False]
    shape: dict[str, object] = {"job": args.job}  # what the result file says it measured
    if args.job == "hopping":
        shape |= {"window_minutes": args.window_minutes, "step_minutes": args.step_minutes}
    elif args.job == "tumbling":
        shape["window_minutes"] = args.window_minutes

    def finish_if_done(topic: str, partition: int, offset: int) -> None:
        if done[0]:
            tally.finish(**shape)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=str(args.state_dir),
        loglevel=logging.WARNING,
        on_message_processed=finish_if_done,
    )
    topic = app.topic(
        Topics(args.topic_prefix).events, key_deserializer="str", value_deserializer="bytes"
    )

    def explode(raw: bytes) -> list[Row]:
        tally.received()
        result = decoder.decode_payments(raw)
        rows = [job.row(event) for event in result.events]
        if tally.processed(len(result.events) + len(result.rejections), len(result.rejections)):
            done[0] = True
        return rows

    job.aggregate(app.dataframe(topic).apply(explode, expand=True), args)
    app.run()


def main() -> None:
    parser = contender_parser(__doc__)
    parser.add_argument("--job", choices=sorted(JOBS), default="hopping")
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
