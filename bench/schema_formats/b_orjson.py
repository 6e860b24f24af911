"""Option (b): orjson.loads, hand-written validation, a frozen slots dataclass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from bench.schema_formats.contract import AMOUNT_MAX, CHANNELS, METHODS

__all__ = ["DcEvent", "InvalidEvent", "check_raw", "dc_decode", "dc_encode"]

# [0-9] not \d: Python's \d matches any Unicode digit.  fullmatch, not match/$.
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}").fullmatch
_SLUG = re.compile(r"[a-z0-9-]{1,64}").fullmatch
_HEX = re.compile(r"[0-9a-f]{64}").fullmatch
# RFC 3339 date-time (ABNF: 'T' separator, mandatory offset; T/Z may be lowercase).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch
_CHANNELS = frozenset(CHANNELS)
_METHODS = frozenset(METHODS)


class InvalidEvent(ValueError):
    pass


def _parse_ts(s: Any) -> datetime:
    if type(s) is not str or _RFC3339(s) is None:
        raise InvalidEvent(f"occurred_at: not an RFC 3339 date-time with offset: {s!r}")
    try:
        # 3.11+ fromisoformat accepts 'Z'; .upper() handles RFC 3339's lowercase t/z.
        # Note: >6 fractional digits are truncated (msgspec/pydantic round instead).
        dt = datetime.fromisoformat(s.upper())
    except ValueError as e:
        raise InvalidEvent(f"occurred_at: {e}") from None
    if dt.tzinfo is None:  # unreachable given the regex; belt and braces
        raise InvalidEvent("occurred_at: naive datetime")
    return dt


def _str(d: dict, key: str, check) -> str:
    v = d[key]
    if type(v) is not str or check(v) is None:
        raise InvalidEvent(f"{key}: invalid value {v!r}")
    return v


def check_raw(b: bytes) -> tuple:
    """Decode with orjson and validate; return field values in FIELDS order."""
    try:
        d = orjson.loads(b)
    except orjson.JSONDecodeError as e:
        raise InvalidEvent(f"bad JSON: {e}") from None
    if type(d) is not dict:
        raise InvalidEvent("event must be a JSON object")
    try:
        schema = d["schema"]
        if type(schema) is not int or schema != 1:  # type() check rejects true/1.0
            raise InvalidEvent(f"schema: must be 1, got {schema!r}")
        event_id = _str(d, "event_id", _EVENT_ID)
        occurred_at = _parse_ts(d["occurred_at"])
        source = _str(d, "source", _SLUG)
        channel = d["channel"]
        if type(channel) is not str or channel not in _CHANNELS:
            raise InvalidEvent(f"channel: invalid value {channel!r}")
        segment = _str(d, "segment", _SLUG)
        district = _str(d, "district", _SLUG)
        method = d["method"]
        if type(method) is not str or method not in _METHODS:
            raise InvalidEvent(f"method: invalid value {method!r}")
        amount = d["amount_vnd"]
        if type(amount) is not int or not (1 <= amount <= AMOUNT_MAX):
            raise InvalidEvent(f"amount_vnd: must be int in 1..10**12, got {amount!r}")
    except KeyError as e:
        raise InvalidEvent(f"missing field {e.args[0]!r}") from None
    payer = d.get("payer")
    if payer is not None and (type(payer) is not str or _HEX(payer) is None):
        raise InvalidEvent(f"payer: invalid value {payer!r}")
    return (
        schema,
        event_id,
        occurred_at,
        source,
        channel,
        segment,
        district,
        method,
        amount,
        payer,
    )


@dataclass(frozen=True, slots=True)
class DcEvent:
    schema: int
    event_id: str
    occurred_at: datetime
    source: str
    channel: str
    segment: str
    district: str
    method: str
    amount_vnd: int
    payer: str | None = None


def dc_decode(b: bytes) -> DcEvent:
    return DcEvent(*check_raw(b))


def dc_encode(x: DcEvent) -> bytes:
    return orjson.dumps(x)  # orjson serialises (slots) dataclasses + aware datetimes natively
