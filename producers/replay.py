"""`cashless replay FILE`: send a utility or market export (JSON Lines or CSV) to Kafka.

The file is streamed from disk in binary, line by line, so memory stays flat whatever its size.
Each line (a CSV record may span lines inside quotes) is parsed, anonymised at the edge
(`cashless.anonymise`), then validated with `EventDecoder.decode_parsed`: a record with a
`holder` field is an account event, any other a payment event; a JSON Lines line may also hold
an array of events. Accepted events are batched per record key, up to `events_per_record` events
in one Kafka record, and every buffer is sent at least once per chunk of lines. Each rejected
event or unparseable line becomes one `payments.dlq` record naming the file and line, with the
scrubbed event when there is one and only the length and a keyed hash of the raw bytes.

CSV specifics: the header row names the fields (`--column-map old=new,...` renames utility
export columns); empty cells are absent fields (so a mixed file's payment rows, whose `holder`
cell is empty, stay payment events); `schema` and `amount_vnd` cells made of digits become
integers. A record whose cell count differs from the header's is rejected as `bad_csv`.

Rejected lines do not make the command fail: they are counted and reported. Only a failure to
deliver to Kafka does (exit status 1).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import msgspec

from cashless.anonymise import Anonymiser
from cashless.deadletter import DeadLetter, dead_letter
from cashless.errors import ConfigError
from cashless.schema import (
    DEFAULT_MAX_RECORD_BYTES,
    AccountEvent,
    EventDecoder,
    PaymentEvent,
    Rejection,
)

__all__ = [
    "DryRunSink",
    "FileFormat",
    "ReplaySink",
    "ReplaySummary",
    "Replayer",
    "SourceLine",
    "csv_record",
    "detect_format",
    "parse_column_map",
    "read_csv",
    "read_jsonl",
]

logger = logging.getLogger(__name__)

FileFormat = Literal["jsonl", "csv"]
ORIGIN = "replay"
_INT_FIELDS = ("schema", "amount_vnd")
_READ_CHUNK = 1 << 20


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


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One input record: where it starts, its raw bytes, and its parsed value or why not.

    `record` is the parsed JSON value or CSV row when `rejection` is None. For a line longer
    than the record limit, `raw` is empty and `raw_length`/`raw_digest` describe it.
    """

    number: int
    raw: bytes
    record: Any = None
    rejection: Rejection | None = None
    raw_length: int = 0
    raw_digest: str | None = None


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

    @property
    def events(self) -> int:
        """Accepted events of both kinds."""
        return self.payments + self.accounts

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


def detect_format(path: Path, given: str = "auto") -> FileFormat:
    """`csv` for a `.csv` file, else JSON Lines, unless the format was given."""
    if given in ("jsonl", "csv"):
        return "csv" if given == "csv" else "jsonl"
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def parse_column_map(text: str | None) -> dict[str, str]:
    """Parse `old=new,old2=new2` into a mapping; `ConfigError` on a malformed pair."""
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ConfigError(f"--column-map: {pair.strip()!r} is not of the form old=new")
        mapping[old.strip()] = new.strip()
    return mapping


def csv_record(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV row as an event-like dict: empty cells dropped, digit `schema`/`amount_vnd` as int."""
    record: dict[str, Any] = {}
    for name, cell in zip(header, cells, strict=True):
        value = cell.strip()
        if not value or not name:
            continue
        record[name] = int(value) if name in _INT_FIELDS and value.isdigit() else value
    return record


def _physical_lines(stream: BinaryIO, limit: int) -> Iterator[tuple[bytes, int, str | None]]:
    """Lines without their end-of-line, as (bytes, length, digest-of-oversize-line-or-None).

    A line longer than `limit` is not kept: it is read through in chunks and only its length
    and an unkeyed SHA-256 are reported, so one huge line cannot exhaust memory.
    """
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line.rstrip(b"\r\n"), len(line), None
            continue
        digest = hashlib.sha256(line)
        total = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(_READ_CHUNK)
            if not line:
                break
            digest.update(line.rstrip(b"\r\n"))
            total += len(line)
        yield b"", total, digest.hexdigest()


def read_jsonl(
    stream: BinaryIO, *, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, SourceLine | None]]:
    """Parse JSON Lines: `(bytes consumed, line)`, with None for a blank line."""
    for number, (raw, consumed, digest) in enumerate(_physical_lines(stream, limit), start=1):
        if digest is not None:
            yield consumed, _oversize(number, consumed, digest, limit)
        elif not raw.strip():
            yield consumed, None
        else:
            try:
                yield consumed, SourceLine(number, raw, record=msgspec.json.decode(raw))
            except msgspec.DecodeError as exc:
                yield consumed, SourceLine(number, raw, rejection=_unparsed(raw, exc))
            except UnicodeDecodeError as exc:  # msgspec raises it for invalid UTF-8 in a string
                yield consumed, SourceLine(number, raw, rejection=_rejection("bad_utf8", str(exc)))
            except RecursionError:  # msgspec parses nested values recursively
                rejection = _rejection("bad_json", "arrays or objects nested too deeply")
                yield consumed, SourceLine(number, raw, rejection=rejection)


def read_csv(
    stream: BinaryIO,
    *,
    column_map: dict[str, str] | None = None,
    limit: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[tuple[int, SourceLine | None]]:
    """Parse CSV with a header row: `(bytes consumed, line)`, with None for a blank line.

    A record spanning several physical lines (a newline inside quotes) is numbered by its
    first line; the header row itself is yielded as a blank line.
    """
    column_map = column_map or {}
    header: list[str] | None = None
    pending: list[bytes] = []
    pending_bytes = 0
    start = 0
    for number, (raw, consumed, digest) in enumerate(_physical_lines(stream, limit), start=1):
        if digest is not None:
            pending, pending_bytes = [], 0
            yield consumed, _oversize(number, consumed, digest, limit)
            continue
        if not pending:
            start = number
        pending.append(raw)
        pending_bytes += consumed
        joined = b"\n".join(pending)
        if joined.count(b'"') % 2 and len(joined) <= limit:
            continue  # inside a quoted cell: the record goes on on the next line
        used, pending, pending_bytes = pending_bytes, [], 0
        try:
            text = joined.decode("utf-8-sig" if header is None else "utf-8")
        except UnicodeDecodeError as exc:
            yield used, SourceLine(start, joined, rejection=_rejection("bad_utf8", str(exc)))
            continue
        if not text.strip():
            yield used, None
            continue
        try:
            cells = next(csv.reader([text]), [])
        except csv.Error as exc:
            yield used, SourceLine(start, joined, rejection=_rejection("bad_csv", str(exc)))
            continue
        if header is None:
            header = [column_map.get(c.strip(), c.strip()) for c in cells]
            yield used, None
        elif len(cells) != len(header):
            detail = f"{len(cells)} cells, the header has {len(header)}"
            yield used, SourceLine(start, joined, rejection=_rejection("bad_csv", detail))
        else:
            yield used, SourceLine(start, joined, record=csv_record(header, cells))
    if pending:
        joined = b"\n".join(pending)
        rejection = _rejection("bad_csv", "unterminated quoted cell at the end of the file")
        yield pending_bytes, SourceLine(start, joined, rejection=rejection)


def _rejection(reason: str, detail: str) -> Rejection:
    return Rejection(reason=reason, detail=detail)


def _unparsed(raw: bytes, exc: msgspec.DecodeError) -> Rejection:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return _rejection("bad_utf8", str(bad))
    return _rejection("bad_json", str(exc))


def _oversize(number: int, length: int, digest: str, limit: int) -> SourceLine:
    return SourceLine(
        number,
        b"",
        rejection=_rejection("oversize", f"{length} bytes > limit {limit}"),
        raw_length=length,
        raw_digest=digest,
    )


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
        self._per_record = events_per_record
        self._chunk_lines = chunk_lines
        self._clock = clock
        self._payments: dict[str, list[PaymentEvent]] = {}
        self._accounts: dict[str, list[AccountEvent]] = {}

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
            self._reject(line, line.rejection, None, summary)
            return
        record = line.record
        items = record if isinstance(record, list) else [record]
        scrubbed = [self._anonymiser(item) if isinstance(item, dict) else None for item in items]
        # Only the scrubbed form is decoded; non-objects stay as they are to be rejected as such.
        local = [s if s is not None else item for s, item in zip(scrubbed, items, strict=True)]
        result = self._decoder.decode_parsed(local if isinstance(record, list) else local[0])
        for event in result.events:
            if isinstance(event, PaymentEvent):
                self._buffer(self._payments, event.key, event)
                summary.payments += 1
            else:
                self._buffer(self._accounts, event.holder, event)
                summary.accounts += 1
        for rejection in result.rejections:
            at = rejection.index if rejection.index is not None else 0
            kept = scrubbed[at] if rejection.reason != "oversize" and at < len(scrubbed) else None
            self._reject(line, rejection, kept, summary)

    def _buffer(self, buffers: dict[str, list[Any]], key: str, event: Any) -> None:
        batch = buffers.get(key)
        if batch is None:
            buffers[key] = batch = []
        batch.append(event)
        if len(batch) >= self._per_record:
            self._send(buffers is self._payments, key, batch)
            del buffers[key]

    def _send(self, payments: bool, key: str, batch: list[Any]) -> None:
        if payments:
            self._sink.send_payments(key, batch)
        else:
            self._sink.send_accounts(key, batch)

    def _send_buffers(self) -> None:
        payments, self._payments = self._payments, {}
        accounts, self._accounts = self._accounts, {}
        for key, payment_batch in payments.items():
            self._sink.send_payments(key, payment_batch)
        for holder, account_batch in accounts.items():
            self._sink.send_accounts(holder, account_batch)

    def _reject(
        self,
        line: SourceLine,
        rejection: Rejection,
        scrubbed: dict[str, Any] | None,
        summary: ReplaySummary,
    ) -> None:
        summary.rejected[rejection.reason] += 1
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
