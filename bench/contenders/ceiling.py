"""The ceiling: a bare aiokafka consumer loop, the project's decoder, plain dict counters.

No state store, no changelog, no commits, no guarantees: the most a Python process can do with
these records here. It joins a new consumer group, reads the topic from the earliest offset to
the end offsets it finds once its partitions are assigned, and counts events per segment and
non-cash events per segment.

    python -m bench.contenders.ceiling --bootstrap HOST:PORT --topic-prefix P --group G \\
        --result FILE
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.contenders.options import contender_parser
from bench.contenders.tally import Tally, taxonomy_decoder
from cashless.topics import Topics


async def consume(args: argparse.Namespace) -> None:
    decoder = taxonomy_decoder()
    tally = Tally(args.result, expect=0, cap=0)
    consumer = AIOKafkaConsumer(
        Topics(args.topic_prefix).events,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    counts: defaultdict[str, int] = defaultdict(int)
    noncash: defaultdict[str, int] = defaultdict(int)
    end: dict[TopicPartition, int] | None = None
    reached: dict[TopicPartition, int] = {}
    while True:
        batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
        for tp, records in batch.items():
            for record in records:
                tally.received()
                result = decoder.decode_payments(record.value)
                for event in result.events:
                    counts[event.key] += 1
                    if event.method != "cash":
                        noncash[event.key] += 1
                tally.processed(len(result.events) + len(result.rejections), len(result.rejections))
            reached[tp] = records[-1].offset + 1
        if end is None:
            assigned = consumer.assignment()
            if len(assigned) == args.partitions:
                end = await consumer.end_offsets(list(assigned))
        if end is not None and all(reached.get(tp, 0) >= offset for tp, offset in end.items()):
            tally.finish(segments=len(counts), noncash=sum(noncash.values()))


def main() -> None:
    parser = contender_parser(__doc__, windowed=False)
    parser.add_argument("--group", required=True)
    asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    main()
