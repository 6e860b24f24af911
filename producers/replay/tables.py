"""Reading an export through an import profile: CSV in any encoding and delimiter, Excel
sheets, JSON Lines, each row turned into an event by the profile (`producers.replay.profile`).

Rows are streamed: CSV through Python's `csv` reader on the decoded stream, `.xlsx` through
openpyxl's read-only mode, which parses the sheet as it goes, so memory stays flat for any
number of rows; date and number cells are taken as Excel stores them. Rows above the header
row are skipped (a title), blank rows are skipped and not counted, and every other row is one
`SourceLine`, numbered by its line (CSV, JSON Lines) or row (xlsx). A row the profile cannot
read carries the field at fault (`SourceLine.fault`) and its rejection `invalid_field:<field>`.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from cashless.errors import ConfigError
from cashless.schema import AccountEvent, PaymentEvent, Rejection
from cashless.taxonomy import Taxonomy
from producers.replay.profile import Profile
from producers.replay.readers import SourceLine, read_jsonl

__all__ = ["EVENT_FIELDS", "file_format", "read_header", "read_profiled"]

EVENT_FIELDS = frozenset(
    f.name for kind in (PaymentEvent, AccountEvent) for f in msgspec.structs.fields(kind)
)


def file_format(path: Path, profile: Profile, given: str = "auto") -> str:
    """The flag's format, else the profile's, else the file's extension (JSON Lines otherwise)."""
    if given != "auto":
        return given
    if profile.format is not None:
        return profile.format
    suffix = path.suffix.lower()
    return {".csv": "csv", ".xlsx": "xlsx"}.get(suffix, "jsonl")


def read_header(path: Path, profile: Profile, fmt: str) -> list[str]:
    """The column names of the file (its header row, or the keys of its first JSON object)."""
    if fmt == "jsonl":
        with path.open("rb") as stream:
            for _, line in read_jsonl(stream):
                if line is not None and isinstance(line.record, dict):
                    return list(line.record)
        return []
    rows = _xlsx_rows(path, profile) if fmt == "xlsx" else _csv_rows(path, profile)
    try:
        for number, cells, _ in rows:
            if number == profile.header_row:
                return [_name(c) for c in cells]
            if number > profile.header_row:
                break
    finally:
        rows.close()
    raise ConfigError(f"{path}: no header row {profile.header_row} (file.header_row)")


def read_profiled(
    path: Path, stream: BinaryIO, profile: Profile, fmt: str, taxonomy: Taxonomy
) -> Iterator[tuple[int, SourceLine | None]]:
    """`(bytes consumed, line)` per row, None for a skipped one; the header checked first."""
    header = read_header(path, profile, fmt)
    fields = profile.check_header(header)
    if fmt == "jsonl":
        for consumed, line in read_jsonl(stream):
            if line is None or not isinstance(line.record, dict):
                yield consumed, line
                continue
            renamed = {f: line.record.get(header_name) for f, header_name in _keys(fields, header)}
            extra = {k: v for k, v in line.record.items() if k not in set(header)}
            record = {**extra, **renamed}
            yield consumed, _line(line.number, line.raw, record, profile, taxonomy, native=False)
        return
    rows = _xlsx_rows(path, profile) if fmt == "xlsx" else _csv_rows(path, profile, stream)
    width = len(header)
    for number, cells, consumed in rows:
        if number <= profile.header_row or _blank(cells):
            yield consumed, None
            continue
        raw = profile.delimiter.join(_name(c) for c in cells).encode()
        if fmt == "csv" and len(cells) != width and any(_name(c) for c in cells[width:]):
            detail = f"{len(cells)} cells, the header has {width}"
            rejection = Rejection(reason="bad_csv", detail=detail)
            yield consumed, SourceLine(number, raw, rejection=rejection)
            continue
        padded = list(cells) + [None] * (width - len(cells))
        # Only the event's fields: a column the schema does not know (a customer's name, an
        # address) never leaves the file, whatever its header says.
        row = {f: padded[at] for f, at in fields.items() if f in EVENT_FIELDS}
        yield consumed, _line(number, raw, row, profile, taxonomy, native=fmt == "xlsx")


def _keys(fields: dict[str, int], header: Sequence[str]) -> list[tuple[str, str]]:
    return [(f, header[at]) for f, at in fields.items()]


def _line(
    number: int,
    raw: bytes,
    row: dict[str, Any],
    profile: Profile,
    taxonomy: Taxonomy,
    *,
    native: bool,
) -> SourceLine:
    record, fault = profile.event(row, taxonomy, native=native)
    if fault is None:
        return SourceLine(number, raw, record=record)
    rejection = Rejection(
        reason=fault.reason,
        detail=f"column {fault.column!r}: {fault.value!r}: {fault.detail}",
        source=record.get("source") if isinstance(record.get("source"), str) else None,
        event_id=record.get("event_id") if isinstance(record.get("event_id"), str) else None,
    )
    return SourceLine(number, raw, record=record, rejection=rejection, fault=fault)


def _name(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


def _blank(cells: Sequence[object]) -> bool:
    return all(not _name(c) for c in cells)


def _csv_rows(
    path: Path, profile: Profile, stream: BinaryIO | None = None
) -> Generator[tuple[int, list[object], int]]:
    """(first line number, cells, bytes consumed since the last row) per CSV record."""
    own = stream is None
    binary: BinaryIO = path.open("rb") if stream is None else stream
    utf8 = codecs.lookup(profile.encoding).name == "utf-8"
    encoding = "utf-8-sig" if utf8 else profile.encoding  # a UTF-8 byte-order mark is accepted
    text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")
    try:
        reader = csv.reader(text, delimiter=profile.delimiter)
        line, position = 1, 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path}: not {profile.encoding} (file.encoding) near line {line}: {exc.reason}"
                ) from None
            except csv.Error as exc:
                raise ConfigError(f"{path}: line {line}: {exc}") from None
            if line == 1 and cells and cells[0].startswith("\ufeff"):
                cells[0] = cells[0][1:]
            now = binary.tell() if binary.seekable() else position
            yield line, list(cells), max(0, now - position)
            position, line = now, reader.line_num + 1
    finally:
        text.detach()
        if own:
            binary.close()


def _xlsx_rows(path: Path, profile: Profile) -> Generator[tuple[int, list[object], int]]:
    """(row number, cell values, 0) per row of the profile's sheet, streamed."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not an Excel .xlsx workbook: {exc}") from None
    try:
        if profile.sheet is None:
            sheet = book.worksheets[0]
        elif profile.sheet in book.sheetnames:
            sheet = book[profile.sheet]
        else:
            names = ", ".join(repr(n) for n in book.sheetnames)
            raise ConfigError(f"{path}: no sheet {profile.sheet!r} (file.sheet); it has {names}")
        size = path.stat().st_size  # read as a whole by the first row, for the progress bar
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values), size if number == 1 else 0
    finally:
        book.close()
