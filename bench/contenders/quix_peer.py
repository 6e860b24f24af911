"""The peer: the rolling-share job written with Quix Streams, its idiomatic windowed aggregation.

Records are decoded with the project's decoder and expanded into one row per event; the row's
event time becomes the message timestamp (`set_timestamp`), and a hopping window per record key
(the key is `channel:segment`) aggregates the event count and the non-cash count
(`.agg(events=Count(), noncash=Sum("noncash")).current()`, the live rolling value). State is
Quix's RocksDB store with its changelog topics, checkpointed every 5 s (its default).

Quix Streams caps pydantic below the project's version, so `make bench` runs this file with the
Python of a separate virtualenv (`.venv/bench-peer`, the project's `bench` extra).

    python -m bench.contenders.quix_peer --bootstrap HOST:PORT --topic-prefix P --group G \\
        --state-dir DIR --expect N --cap SECONDS --result FILE
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum

from bench.contenders.options import contender_parser
from bench.contenders.tally import Tally, taxonomy_decoder
from cashless.topics import Topics


def run(args: argparse.Namespace) -> None:
    decoder = taxonomy_decoder()
    tally = Tally(args.result, expect=args.expect, cap=args.cap)
    done = [False]

    def finish_if_done(topic: str, partition: int, offset: int) -> None:
        if done[0]:
            tally.finish(window_minutes=args.window_minutes, step_minutes=args.step_minutes)

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

    def explode(raw: bytes) -> list[dict[str, Any]]:
        tally.received()
        result = decoder.decode_payments(raw)
        rows = [
            {
                "ts": int(event.occurred_at.timestamp() * 1000),
                "noncash": event.method != "cash",
            }
            for event in result.events
        ]
        if tally.processed(len(result.events) + len(result.rejections), len(result.rejections)):
            done[0] = True
        return rows

    def quiet(*_: Any) -> bool:
        return False  # late events are dropped without a log line per event

    sdf = app.dataframe(topic)
    sdf = sdf.apply(explode, expand=True)
    sdf = sdf.set_timestamp(lambda value, key, timestamp, headers: value["ts"])
    sdf = (
        sdf.hopping_window(
            duration_ms=args.window_minutes * 60_000,
            step_ms=args.step_minutes * 60_000,
            on_late=quiet,
        )
        .agg(events=Count(), noncash=Sum("noncash"))
        .current()
    )
    app.run()


def main() -> None:
    parser = contender_parser(__doc__)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
