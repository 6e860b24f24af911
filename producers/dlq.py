"""The dead-letter workflow: read `payments.dlq`, sum it up, export what can be fixed.

Every rejection, by a producer or a worker, is one `DeadLetter` record (`cashless.deadletter`).
`read_dead_letters` reads the topic from its start to the end offsets it has when called (so it
ends, and a live topic does not keep it reading), filtered by reason, source and time.
`DlqSummary` counts them by reason, source and Hanoi day; `export_events` writes the kept
events (already scrubbed: payers and holders are pseudonyms, which replay keeps as they are)
one per line, ready to be fixed and sent again with `cashless replay`. Deduplication makes a
re-send of an event that was applied after all change nothing. Input that could not be parsed
is kept only as its length and a keyed hash: it is listed, never exported.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import msgspec
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from cashless.deadletter import DeadLetter
from cashless.errors import CashlessError
from cashless.reachable import require_reachable
from cashless.settings import KafkaSettings
from cashless.topics import Topics

__all__ = [
    "DlqFilter",
    "DlqSummary",
    "ExportTally",
    "described",
    "export_events",
    "read_dead_letters",
    "write_export",
]

HANOI = timezone(timedelta(hours=7))
_CONNECT_SECONDS = 10.0
_decode = msgspec.json.Decoder(DeadLetter).decode


@dataclass(frozen=True)
class DlqFilter:
    """Which dead letters to take: any of `reasons` (all when empty), one source, since when."""

    reasons: frozenset[str] = frozenset()
    source: str | None = None
    since: datetime | None = None

    def __call__(self, dl: DeadLetter) -> bool:
        if self.reasons and dl.reason not in self.reasons:
            return False
        if self.source is not None and dl.source != self.source:
            return False
        return self.since is None or _rejected_at(dl) >= self.since


def read_dead_letters(
    kafka: KafkaSettings, wanted: DlqFilter, *, progress: Callable[[int], None] | None = None
) -> Iterator[DeadLetter]:
    """The dead letters `wanted` keeps, from the start of the topic to its end offsets now.

    An unreachable Kafka or a missing topic is a `CashlessError` within about 10 seconds; a
    record that is not a dead letter (written by something else) is skipped."""
    topic = Topics(kafka.topic_prefix).dlq
    require_reachable(kafka.bootstrap_servers)
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers.split(","),
            enable_auto_commit=False,
            request_timeout_ms=int(_CONNECT_SECONDS * 1000) + 1000,
            **kafka.kafka_python_config(),
        )
    except (KafkaError, OSError) as exc:
        raise CashlessError(f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc}") from None
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise CashlessError(
                f"no topic {topic} on {kafka.bootstrap_servers}: nothing rejected yet"
            )
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        read = 0
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            for tp, batch in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for message in batch:
                    if message.offset >= end[tp]:
                        continue
                    read += 1
                    try:
                        dl = _decode(message.value)
                    except (msgspec.DecodeError, TypeError):
                        continue
                    if wanted(dl):
                        yield dl
            if progress is not None:
                progress(read)
    except KafkaError as exc:
        raise CashlessError(f"cannot read {topic} from {kafka.bootstrap_servers}: {exc}") from None
    finally:
        consumer.close()


@dataclass
class DlqSummary:
    """Dead letters counted by reason, by source and by Hanoi day of rejection."""

    total: int = 0
    unparseable: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)

    def add(self, dl: DeadLetter) -> None:
        """Count one dead letter."""
        self.total += 1
        self.unparseable += dl.payload_b64 is None
        self.reasons[dl.reason] += 1
        self.sources[dl.source or "(unknown)"] += 1
        self.days[_rejected_at(dl).astimezone(HANOI).date().isoformat()] += 1

    def report(self) -> list[str]:
        """The summary as lines of text."""
        if not self.total:
            return ["no dead letters match"]
        lines = [
            f"{self.total:,} dead letters ({self.unparseable:,} unparseable: kept as length "
            "and hash only, not exportable)"
        ]
        for title, counts in (
            ("by reason", self.reasons),
            ("by source", self.sources),
            ("by day (Hanoi)", self.days),
        ):
            lines.append(f"{title}:")
            ordered = sorted(counts.items()) if title.startswith("by day") else counts.most_common()
            width = max(len(k) for k in counts)
            lines += [f"  {key:<{width}}  {count:>9,}" for key, count in ordered]
        return lines

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object."""
        return {
            "total": self.total,
            "unparseable": self.unparseable,
            "by_reason": dict(self.reasons),
            "by_source": dict(self.sources),
            "by_day": dict(sorted(self.days.items())),
        }


@dataclass
class ExportTally:
    """What an export wrote, and the unparseable records it could only list."""

    exported: int = 0
    unparseable: list[DeadLetter] = field(default_factory=list)


def export_events(letters: Iterator[DeadLetter], out: IO[str]) -> ExportTally:
    """Write each kept event as one JSON line; list the ones kept as length and hash only."""
    tally = ExportTally()
    for dl in letters:
        if dl.payload_b64 is None:
            tally.unparseable.append(dl)
            continue
        event = json.loads(base64.b64decode(dl.payload_b64))
        out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
        tally.exported += 1
    return tally


def described(dl: DeadLetter) -> str:
    """One line naming an unparseable dead letter: where it came from, why, how long."""
    where = ", ".join(f"{k} {v}" for k, v in dl.location.items()) or dl.origin
    return f"  {where}: {dl.reason} ({dl.raw_length:,} bytes, hmac {(dl.raw_hmac or '')[:16]}…)"


def _rejected_at(dl: DeadLetter) -> datetime:
    try:
        return datetime.fromisoformat(dl.rejected_at)
    except ValueError:
        return datetime.min.replace(tzinfo=HANOI)


def write_export(path: Path, letters: Iterator[DeadLetter]) -> ExportTally:
    """`export_events` into `path`, written whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            tally = export_events(letters, out)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise CashlessError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return tally
