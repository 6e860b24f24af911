"""The naive baseline: the rolling-share job written the straightforward Faust way.

One agent; for every event of every record it updates two hopping-window tables (events per
segment, non-cash events per segment), so each event costs `window / step` window updates per
table, each one a table write and a changelog record. Event time comes from the payload through
`relative_to(...)` (Faust would otherwise use the Kafka timestamp). Memory store, Faust's
defaults otherwise. Kept in bench/ only, as the thing the worker has to beat; it has no dedup,
no late-event rule and no metrics.

    python -m bench.contenders.naive_faust --bootstrap HOST:PORT --topic-prefix P --app-id A \\
        --datadir DIR --expect N --cap SECONDS --result FILE
"""

from __future__ import annotations

import argparse
import logging
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.contenders.options import contender_parser
from bench.contenders.tally import Tally, taxonomy_decoder
from cashless.topics import Topics, ensure_topics

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import faust


def build(args: argparse.Namespace) -> faust.App:
    decoder = taxonomy_decoder()
    tally = Tally(args.result, expect=args.expect, cap=args.cap)
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=str(args.datadir),
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    topic = app.topic(
        Topics(args.topic_prefix).events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=args.partitions,
    )
    size = timedelta(minutes=args.window_minutes)
    step = timedelta(minutes=args.step_minutes)
    now = [0.0]  # event time of the event being counted, for the tables' relative_to

    def event_time(_: Any) -> float:
        return now[0]

    def hopping(name: str) -> Any:
        table: Any = app.Table(name, default=int, partitions=args.partitions)
        return table.hopping(size, step, expires=size).relative_to(event_time)

    totals, noncash = hopping("totals"), hopping("noncash")

    @app.agent(topic)
    async def count(stream: Any) -> None:
        async for value in stream:
            tally.received()
            result = decoder.decode_payments(value)
            for event in result.events:
                now[0] = event.occurred_at.timestamp()
                totals[event.key] += 1
                if event.method != "cash":
                    noncash[event.key] += 1
            if tally.processed(len(result.events) + len(result.rejections), len(result.rejections)):
                tally.finish(window_minutes=args.window_minutes, step_minutes=args.step_minutes)

    return app


def main() -> None:
    parser = contender_parser(__doc__)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--datadir", type=Path, required=True)
    args = parser.parse_args()
    # Faust creates changelogs itself, but pre-created ones avoid its race with stale metadata.
    changelogs = {
        f"{args.app_id}-{name}-changelog": args.partitions for name in ("totals", "noncash")
    }
    ensure_topics(args.bootstrap, Topics(args.topic_prefix), compacted=changelogs)
    app = build(args)
    args.datadir.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=logging.WARNING)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
