"""Replaying one file's records: anonymise, validate, batch per record key, send, sum up.

Accepted events are buffered per record key (`producers.batching.KeyedBuffer`), up to
`events_per_record` in one Kafka record, and every buffer is sent at least once per chunk of
lines. Each rejected event or unparseable line becomes one `payments.dlq` record naming the
file and line, with the scrubbed event when there is one and only the length and a keyed hash
of the raw bytes.
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from cashless.anonymise import Anonymiser
from cashless.deadletter import DeadLetter, dead_letter
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent, Rejection
from producers.batching import KeyedBuffer
from producers.replay.readers import SourceLine

__all__ = ["FIRST_REJECTIONS", "ORIGIN", "DryRunSink", "ReplaySink", "ReplaySummary", "Replayer"]

ORIGIN = "replay"
FIRST_REJECTIONS = 10


class ReplaySink(Protocol):
    """Where replayed events go: `producers.kafka_sink.KafkaEventSink` or a `DryRunSink`."""

    def send_payments(self, key: str, events: list[PaymentEvent]) -> None:
        """Send payment events sharing one key as one record."""

    def send_accounts(self, key: str, events: list[AccountEvent]) -> None:
        """Send account events of one holder as one record."""

    def send_dead_letter(self, dl: DeadLetter) -> None:
        """Send one DLQ record."""

    def flush(self, timeout: float | None = None) -> int:
        """Wait for delivery; raise on failures."""


@dataclass
class DryRunSink:
    """A sink that only counts what it would send (`--dry-run`)."""

    records: int = 0
    dead_letters: int = 0

    def send_payments(self, key: str, events: list[PaymentEvent]) -> None:
        """Count one payments record."""
        self.records += 1

    def send_accounts(self, key: str, events: list[AccountEvent]) -> None:
        """Count one accounts record."""
        self.records += 1

    def send_dead_letter(self, dl: DeadLetter) -> None:
        """Count one DLQ record."""
        self.dead_letters += 1

    def flush(self, timeout: float | None = None) -> int:
        """Nothing to wait for."""
        return 0


@dataclass
class ReplaySummary:
    """What a replay did, for the end-of-run report."""

    file: str
    lines: int = 0
    blank: int = 0
    bytes_read: int = 0
    payments: int = 0
    accounts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    interrupted: bool = False
    dry_run: bool = False
    first_rejections: list[tuple[int, Rejection, SourceLine]] = field(default_factory=list)
    """The first rejected lines (up to `FIRST_REJECTIONS`), for `--dry-run` to show."""

    @property
    def events(self) -> int:
        """Accepted events of both kinds."""
        return self.payments + self.accounts

    @property
    def rejected_share(self) -> float:
        """Rejected events and lines over everything read (0 for an empty file)."""
        rejected = sum(self.rejected.values())
        return rejected / (self.events + rejected) if self.events + rejected else 0.0

    @property
    def events_per_second(self) -> float:
        """Accepted events per second of wall time."""
        return self.events / self.elapsed if self.elapsed > 0 else 0.0

    def report(self) -> list[str]:
        """The summary as lines of text."""
        rejected = sum(self.rejected.values())
        lines = [
            f"{'interrupted' if self.interrupted else 'replayed'} {self.file}: "
            f"{self.lines} records ({self.blank} blank or header lines skipped), "
            f"{self.bytes_read} bytes "
            f"in {self.elapsed:.2f} s",
            f"accepted: {self.payments} payment events, {self.accounts} account events "
            f"({self.events_per_second:,.0f} events/s)",
            f"rejected: {rejected} "
            + ("(dry run: nothing sent)" if self.dry_run else "(sent to the dead-letter topic)"),
        ]
        lines += [f"  {reason}: {count}" for reason, count in sorted(self.rejected.items())]
        return lines


class Replayer:
    """Anonymises, validates, batches and sends the records of one file (see the module doc)."""

    def __init__(
        self,
        sink: ReplaySink,
        anonymiser: Anonymiser,
        decoder: EventDecoder,
        *,
        events_per_record: int = 500,
        chunk_lines: int = 20_000,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if events_per_record < 1 or chunk_lines < 1:
            raise ValueError("events_per_record and chunk_lines must be positive")
        self._sink = sink
        self._anonymiser = anonymiser
        self._decoder = decoder
        self._chunk_lines = chunk_lines
        self._clock = clock
        self._payments: KeyedBuffer[PaymentEvent] = KeyedBuffer(events_per_record)
        self._accounts: KeyedBuffer[AccountEvent] = KeyedBuffer(events_per_record)

    def replay(
        self,
        lines: Iterator[tuple[int, SourceLine | None]],
        summary: ReplaySummary,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> ReplaySummary:
        """Process every line into `summary` (updated as it goes) and flush the sink.

        On an interruption (SIGTERM, Ctrl-C) the events read so far are still sent and
        flushed before the exception goes on, and `summary.interrupted` is set.
        """
        started = self._clock()
        try:
            for consumed, line in lines:
                summary.bytes_read += consumed
                if line is None:
                    summary.blank += 1
                else:
                    summary.lines += 1
                    self._process(line, summary)
                if (summary.lines + summary.blank) % self._chunk_lines == 0:
                    self._send_buffers()
                    if progress is not None:
                        progress(summary.bytes_read)
        except BaseException:
            summary.interrupted = True
            raise
        finally:
            try:
                self._send_buffers()
                self._sink.flush()
            finally:
                summary.elapsed = self._clock() - started
                if progress is not None:
                    progress(summary.bytes_read)
        return summary

    def _process(self, line: SourceLine, summary: ReplaySummary) -> None:
        if line.rejection is not None:
            # A row an import profile could not read still has its other fields: kept,
            # scrubbed, so that it can be fixed and sent again.
            kept = self._anonymiser(line.record) if isinstance(line.record, dict) else None
            self._reject(line, line.rejection, kept, summary)
            return
        record = line.record
        items = record if isinstance(record, list) else [record]
        scrubbed = [self._anonymiser(item) if isinstance(item, dict) else None for item in items]
        # Only the scrubbed form is decoded; non-objects stay as they are to be rejected as such.
        local = [s if s is not None else item for s, item in zip(scrubbed, items, strict=True)]
        result = self._decoder.decode_parsed(local if isinstance(record, list) else local[0])
        for event in result.events:
            if isinstance(event, PaymentEvent):
                if (full := self._payments.add(event.key, event)) is not None:
                    self._sink.send_payments(event.key, full)
                summary.payments += 1
            else:
                if (owned := self._accounts.add(event.holder, event)) is not None:
                    self._sink.send_accounts(event.holder, owned)
                summary.accounts += 1
        for rejection in result.rejections:
            at = rejection.index if rejection.index is not None else 0
            kept = scrubbed[at] if rejection.reason != "oversize" and at < len(scrubbed) else None
            self._reject(line, rejection, kept, summary)

    def _send_buffers(self) -> None:
        payments, accounts = self._payments.drain(), self._accounts.drain()
        for key, payment_batch in payments:
            self._sink.send_payments(key, payment_batch)
        for holder, account_batch in accounts:
            self._sink.send_accounts(holder, account_batch)

    def _reject(
        self,
        line: SourceLine,
        rejection: Rejection,
        scrubbed: dict[str, Any] | None,
        summary: ReplaySummary,
    ) -> None:
        summary.rejected[rejection.reason] += 1
        if len(summary.first_rejections) < FIRST_REJECTIONS:
            summary.first_rejections.append((line.number, rejection, line))
        dl = dead_letter(
            rejection,
            origin=ORIGIN,
            raw=line.raw,
            hash_key=self._anonymiser.hash_key,
            scrubbed=scrubbed,
            location={"file": summary.file, "line": line.number},
        )
        if line.raw_digest is not None:
            # An oversize line was not kept: hash its digest under the key instead of the bytes.
            keyed = hmac.new(self._anonymiser.hash_key, line.raw_digest.encode(), "sha256")
            dl = msgspec.structs.replace(dl, raw_length=line.raw_length, raw_hmac=keyed.hexdigest())
        self._sink.send_dead_letter(dl)
