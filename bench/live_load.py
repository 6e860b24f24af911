"""Paced live load for the latency measurement, with a log of when each record was sent.

Payment events stamped with the present (valid, unique ids, random segment, district and method)
at a fixed rate. Like `cashless simulate --rate`, every tick (0.1 s) sends the events due, grouped
by record key, through the project's Kafka producer (`KafkaEventSink`). Each record is logged as
`<unix time of send()> <key> <events>` so that the latency of every event can be computed from
when its segment's count reaches it in the worker's /metrics (a segment is one record key, so
one partition, read in order).

    python bench/live_load.py --bootstrap HOST:PORT --topic-prefix P --rate 5000 \\
        --duration 20 --log FILE
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cashless.schema import PaymentEvent
from cashless.settings import KafkaSettings
from cashless.taxonomy import METHODS, load_taxonomy
from producers.kafka_sink import KafkaEventSink
from producers.simulate.calibration import source_of

HANOI = timezone(timedelta(hours=7))
TICK = 0.1


def run(args: argparse.Namespace) -> None:
    taxonomy = load_taxonomy()
    segments = sorted(taxonomy.segments.values(), key=lambda s: (s.channel, s.slug))
    districts = sorted(taxonomy.districts)
    rng = random.Random(args.seed)
    kafka = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.topic_prefix)
    sent = 0
    total = round(args.rate * args.duration)
    with KafkaEventSink(kafka) as sink, args.log.open("w") as log:
        start = time.time()
        while sent < total:
            elapsed = time.time() - start
            due = min(total, int(elapsed * args.rate)) - sent
            now = datetime.now(HANOI)
            groups: dict[str, list[PaymentEvent]] = {}
            for i in range(sent, sent + due):
                segment = rng.choice(segments)
                event = PaymentEvent(
                    schema=1,
                    event_id=f"{args.tag}-{i}",
                    occurred_at=now,
                    source=source_of(segment),
                    channel=segment.channel,  # type: ignore[arg-type]
                    segment=segment.slug,
                    district=rng.choice(districts),
                    method=rng.choice(METHODS),  # type: ignore[arg-type]
                    amount_vnd=rng.randint(10_000, 5_000_000),
                )
                groups.setdefault(event.key, []).append(event)
            for key, events in groups.items():
                log.write(f"{time.time():.6f} {key} {len(events)}\n")
                sink.send_payments(key, events)
            sent += due
            time.sleep(max(0.0, TICK - (time.time() - start - elapsed)))
        sink.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--tag", default="live")
    parser.add_argument("--seed", type=int, default=1)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
