"""Reading a source's export: JSON Lines and CSV records, streamed line by line from disk.

Each reader yields `(bytes consumed, SourceLine)` per record, None for a blank line or the CSV
header, so memory stays flat whatever the file's size: a line longer than the record limit is
read through in chunks and kept only as its length and digest. CSV specifics: the header row
names the fields (`parse_column_map` renames utility export columns); empty cells are absent
fields; `schema` and `amount_vnd` cells made of digits become integers; a record whose cell
count differs from the header's is rejected as `bad_csv`.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec

from cashless.errors import ConfigError
from cashless.schema import DEFAULT_MAX_RECORD_BYTES, Rejection

__all__ = [
    "FileFormat",
    "SourceLine",
    "check_column_map",
    "csv_record",
    "detect_format",
    "parse_column_map",
    "read_csv",
    "read_jsonl",
    "read_lines",
]

FileFormat = Literal["jsonl", "csv"]
_INT_FIELDS = ("schema", "amount_vnd")
_READ_CHUNK = 1 << 20


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
    fault: Any = None
    """With an import profile: the `FieldFault` (field, column, value) behind `rejection`."""


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
            names = [c.strip() for c in cells]
            missing = [old for old in column_map if old not in names]
            if missing:
                raise ConfigError(
                    f"--column-map: the file has no column {missing[0]!r} "
                    f"(its header: {', '.join(repr(n) for n in names)})"
                )
            header = [column_map.get(name, name) for name in names]
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


def check_column_map(path: Path, column_map: dict[str, str]) -> None:
    """`ConfigError` when `column_map` names a column the CSV file's header lacks."""
    with path.open("rb") as stream:
        next(read_csv(stream, column_map=column_map), None)  # the header row is checked first


def read_lines(
    stream: BinaryIO, fmt: FileFormat, *, column_map: dict[str, str] | None = None
) -> Iterator[tuple[int, SourceLine | None]]:
    """The records of a file in format `fmt`: `read_csv` or `read_jsonl`."""
    if fmt == "csv":
        return read_csv(stream, column_map=column_map)
    return read_jsonl(stream)


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
