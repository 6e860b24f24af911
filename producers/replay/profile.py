"""Import profiles (contract 4): how to read one source's own export, from a TOML file.

A profile says which column is which event field, which fields every row shares, how
timestamps and amounts are written and which file values stand for which schema values. It is
checked whole when loaded (an unknown table or key, a value of the wrong type: `ConfigError`,
exit status 2, naming the key) and against the file's header before anything is sent
(`check_header`). `Profile.event` turns one row into an event-like dict for the decoder of
contract 1, or says which field of which column is at fault.

Names and values are compared after trimming, Unicode NFC normalisation and case folding.
"""

from __future__ import annotations

import codecs
import re
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cashless.errors import ConfigError
from cashless.taxonomy import Taxonomy

__all__ = ["FORMATS", "FieldFault", "Profile", "load_profile", "normalised"]

FORMATS = ("csv", "jsonl", "xlsx")
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_DISTRICT_PREFIXES = ("quận", "huyện", "thị xã")
_INT_FIELDS = ("schema", "amount_vnd")
_TABLES: dict[str, dict[str, tuple[type, ...]]] = {
    "file": {
        "format": (str,),
        "delimiter": (str,),
        "encoding": (str,),
        "sheet": (str,),
        "header_row": (int,),
    },
    "parse": {
        "timestamp_format": (str, list),
        "timezone": (str,),
        "thousands": (str,),
        "decimal": (str,),
    },
}


def normalised(text: str) -> str:
    """The form names and values are compared in: trimmed, NFC, case-folded."""
    return unicodedata.normalize("NFC", text.strip()).casefold()


@dataclass(frozen=True, slots=True)
class FieldFault:
    """Why a row cannot be an event: the field, the column it came from, and the value."""

    field: str
    column: str | None
    value: str
    detail: str

    @property
    def reason(self) -> str:
        """The rejection reason of contract 1."""
        return f"invalid_field:{self.field}"


@dataclass(frozen=True)
class Profile:
    """A loaded, checked import profile; `Profile()` reads a plain file of contract 1."""

    path: str = "(no profile)"
    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    sheet: str | None = None
    header_row: int = 1
    defaults: Mapping[str, object] = field(default_factory=dict)
    columns: Mapping[str, str] = field(default_factory=dict)
    timestamp_formats: Sequence[str] = ()
    timezone: str = DEFAULT_TIMEZONE
    thousands: str | None = None
    decimal: str = "."
    values: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    # -- the file's header -------------------------------------------------------------------

    def check_header(self, header: Sequence[str]) -> dict[str, int]:
        """Each event field's column index in `header`: the mapped columns, then the columns
        named like fields. A `[columns]` entry the header lacks is a `ConfigError`."""
        positions = {normalised(name): at for at, name in enumerate(header) if name}
        found: dict[str, int] = {}
        for at, name in enumerate(header):
            if name and name.strip() not in found:
                found[name.strip()] = at
        missing = [
            (event_field, column)
            for event_field, column in self.columns.items()
            if normalised(column) not in positions
        ]
        if missing:
            event_field, column = missing[0]
            has = ", ".join(repr(n.strip()) for n in header if n and n.strip()) or "no columns"
            named = [n for n in header if n and n.strip()]
            hint = ""
            if len(named) == 1 and any(mark in named[0] for mark in ";\t|,"):
                hint = "; is file.delimiter right?"
            raise ConfigError(
                f"{self.path}: [columns] {event_field} = {column!r}: the file has no such "
                f"column (its header: {has}{hint})"
            )
        mapped = {f: positions[normalised(c)] for f, c in self.columns.items()}
        taken = set(mapped.values())
        for name, at in found.items():
            if at not in taken and name not in mapped:
                mapped[name] = at
        return mapped

    def column_of(self, event_field: str) -> str | None:
        """The file's column for `event_field` (its own name when the profile maps none)."""
        return self.columns.get(event_field, event_field)

    # -- one row -------------------------------------------------------------------------------

    def event(
        self, cells: Mapping[str, object], taxonomy: Taxonomy, *, native: bool = False
    ) -> tuple[dict[str, Any], FieldFault | None]:
        """The event-like dict of one row (`field → cell`), with the first field at fault.

        `native`: the cells are a spreadsheet's typed values (numbers, dates), and a number
        in a text field (an id, a code) is read as its digits; otherwise values that are not
        text (JSON numbers, objects) are left for contract 1 to judge."""
        record: dict[str, Any] = {}
        fault: FieldFault | None = None
        for name, cell in cells.items():
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                continue
            value, problem = self._field(name, cell, taxonomy, native)
            if problem is not None and fault is None:
                fault = FieldFault(name, self.column_of(name), _shown(cell), problem)
            record[name] = value
        for name, value in self.defaults.items():
            record.setdefault(name, value)
        return record, fault

    def _field(
        self, name: str, cell: object, taxonomy: Taxonomy, native: bool
    ) -> tuple[object, str | None]:
        if isinstance(cell, str):
            mapped = self._mapped(name, cell)
            if mapped is not None:
                return mapped, None
        if name == "occurred_at":
            return self._timestamp(cell)
        if name in _INT_FIELDS:
            return self._integer(cell)
        if not isinstance(cell, str) and not (native and isinstance(cell, int | float)):
            return cell, None
        text = _text(cell)
        if name == "district":
            return _district(text, taxonomy), None
        return text, None

    def _mapped(self, name: str, cell: str) -> object | None:
        table = self.values.get(name)
        return None if table is None else table.get(normalised(cell))

    def _timestamp(self, cell: object) -> tuple[object, str | None]:
        zone = ZoneInfo(self.timezone)
        if isinstance(cell, datetime):  # an xlsx date cell: a local time
            local = cell if cell.tzinfo else cell.replace(tzinfo=zone)
            return local.isoformat(), None
        if isinstance(cell, date):
            return datetime(cell.year, cell.month, cell.day, tzinfo=zone).isoformat(), None
        text = _text(cell)
        if not self.timestamp_formats:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return text, None  # contract 1 decides (RFC 3339)
            return (text if parsed.tzinfo else parsed.replace(tzinfo=zone).isoformat()), None
        for fmt in self.timestamp_formats:
            try:
                parsed = datetime.strptime(text, fmt)
            except ValueError:
                continue
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).isoformat(), None
        formats = " or ".join(repr(f) for f in self.timestamp_formats)
        return text, f"no such time, or not written as {formats}"

    def _integer(self, cell: object) -> tuple[object, str | None]:
        if isinstance(cell, bool):
            return cell, "not a number"
        if isinstance(cell, int):
            return cell, None
        if isinstance(cell, float):
            if cell.is_integer():
                return int(cell), None
            return cell, "a fraction of a đồng"
        text = _text(cell)
        if "-" in text:
            return text, "negative"
        if self.thousands:
            text = text.replace(self.thousands, "")
        whole, mark, fraction = text.partition(self.decimal)
        digits, fraction_digits = re.sub(r"\D", "", whole), re.sub(r"\D", "", fraction)
        if not digits or (mark and self.decimal in fraction):
            return _text(cell), "not a whole number"
        if fraction_digits.strip("0"):
            return _text(cell), "a fraction of a đồng"
        return int(digits), None


def _text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # an xlsx number cell holding an id or a code
    return str(cell).strip()


def _shown(cell: object) -> str:
    return cell.isoformat(sep=" ") if isinstance(cell, datetime) else _text(cell)


def _district(text: str, taxonomy: Taxonomy) -> str:
    """A district slug, or its name as the taxonomy writes it, with or without its prefix."""
    if text in taxonomy.districts:
        return text
    wanted = _without_prefix(normalised(text))
    for district in taxonomy.districts.values():
        if _without_prefix(normalised(district.name)) == wanted:
            return district.slug
    return text


def _without_prefix(name: str) -> str:
    for prefix in _DISTRICT_PREFIXES:
        if name.startswith(prefix + " "):
            return name[len(prefix) + 1 :].strip()
    return name


# -- loading ------------------------------------------------------------------------------------


def load_profile(path: Path) -> Profile:
    """Read and check a profile; every mistake is a `ConfigError` naming its key."""
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a TOML file: {exc}") from None
    where = str(path)
    known = {"file", "defaults", "columns", "parse", "values"}
    for table, value in document.items():
        if table not in known:
            raise ConfigError(
                f"{where}: unknown table [{table}] (known: {', '.join(sorted(known))})"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {table} must be a table")
    settings: dict[str, Any] = {}
    for table in ("file", "parse"):
        settings.update(_typed(where, table, document.get(table, {})))
    return Profile(
        path=where,
        format=_format(where, settings.get("format")),
        delimiter=_delimiter(where, settings.get("delimiter", ",")),
        encoding=_encoding(where, settings.get("encoding", "utf-8")),
        sheet=settings.get("sheet"),
        header_row=_header_row(where, settings.get("header_row", 1)),
        defaults=_defaults(where, document.get("defaults", {})),
        columns=_strings(where, "columns", document.get("columns", {})),
        timestamp_formats=_timestamp_formats(where, settings.get("timestamp_format")),
        timezone=_timezone(where, settings.get("timezone", DEFAULT_TIMEZONE)),
        thousands=_mark(where, "thousands", settings.get("thousands")),
        decimal=_mark(where, "decimal", settings.get("decimal", ".")) or ".",
        values=_values(where, document.get("values", {})),
    )


def _typed(where: str, table: str, values: Mapping[str, object]) -> dict[str, Any]:
    keys = _TABLES[table]
    for key, value in values.items():
        if key not in keys:
            raise ConfigError(
                f"{where}: unknown key {table}.{key} (known: {', '.join(sorted(keys))})"
            )
        if not isinstance(value, keys[key]) or isinstance(value, bool):
            kinds = " or ".join("a list" if k is list else k.__name__ for k in keys[key])
            raise ConfigError(f"{where}: {table}.{key} must be {kinds}, not {value!r}")
    return dict(values)


def _format(where: str, value: str | None) -> str | None:
    if value is not None and value not in FORMATS:
        raise ConfigError(f"{where}: file.format {value!r} is not one of {', '.join(FORMATS)}")
    return value


def _delimiter(where: str, value: str) -> str:
    if len(value) != 1:
        raise ConfigError(f"{where}: file.delimiter must be one character, not {value!r}")
    return value


def _encoding(where: str, value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise ConfigError(f"{where}: file.encoding {value!r} is not a known encoding") from None
    return value


def _header_row(where: str, value: int) -> int:
    if value < 1:
        raise ConfigError(f"{where}: file.header_row must be 1 or more, not {value}")
    return value


def _defaults(where: str, values: Mapping[str, object]) -> dict[str, object]:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigError(f"{where}: defaults.{key} must be a string or an integer")
    return dict(values)


def _strings(where: str, table: str, values: Mapping[str, object]) -> dict[str, str]:
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: {table}.{key} must be a non-empty string")
    return {key: str(value) for key, value in values.items()}


def _timestamp_formats(where: str, value: str | list[object] | None) -> tuple[str, ...]:
    formats = [value] if isinstance(value, str) else list(value or [])
    for fmt in formats:
        if not isinstance(fmt, str) or "%" not in fmt:
            raise ConfigError(f"{where}: parse.timestamp_format {fmt!r} is not a strptime format")
    return tuple(str(f) for f in formats)


def _timezone(where: str, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: parse.timezone {value!r} is not a time zone") from None
    return value


def _mark(where: str, key: str, value: str | None) -> str | None:
    if value is not None and (len(value) != 1 or value.isdigit()):
        raise ConfigError(f"{where}: parse.{key} must be one character, not a digit: {value!r}")
    return value


def _values(where: str, tables: Mapping[str, object]) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: values.{name} must be a table of file value = value")
        for key, value in table.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ConfigError(f"{where}: values.{name}.{key!r} must be a string or an integer")
        result[name] = {normalised(key): value for key, value in table.items()}
    return result
