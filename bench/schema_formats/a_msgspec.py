"""Option (a): msgspec.Struct(frozen=True) with msgspec.Meta constraints, and the naive variant
with ^...$ anchors for the rejection matrix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from bench.schema_formats.contract import AMOUNT_MAX, Channel, Method

__all__ = ["MsEvent", "MsEventDollar", "ms_decode", "ms_dollar_decode", "ms_encode"]

MsAware = Annotated[datetime, msgspec.Meta(tz=True)]  # tz=True -> reject naive
MsAmount = Annotated[int, msgspec.Meta(ge=1, le=AMOUNT_MAX)]


def _event_struct(name: str, start: str, end: str) -> Any:
    """The event as a frozen Struct whose patterns are anchored with `start` and `end`."""

    def pattern(body: str) -> Any:
        return Annotated[str, msgspec.Meta(pattern=f"{start}{body}{end}")]

    slug = pattern("[a-z0-9-]{1,64}")
    return msgspec.defstruct(
        name,
        [
            ("schema", Literal[1]),
            ("event_id", pattern("[A-Za-z0-9._:-]{1,64}")),
            ("occurred_at", MsAware),
            ("source", slug),
            ("channel", Channel),
            ("segment", slug),
            ("district", slug),
            ("method", Method),
            ("amount_vnd", MsAmount),
            ("payer", pattern("[0-9a-f]{64}") | None, None),
        ],
        frozen=True,
    )


# msgspec compiles `pattern` with Python's `re` and uses .search(), so `$` would
# also match just before a trailing "\n" -> use \A ... \Z for a full match.
MsEvent = _event_struct("MsEvent", r"\A", r"\Z")

_ms_dec = msgspec.json.Decoder(MsEvent)
_ms_enc = msgspec.json.Encoder()
ms_decode: Callable[[bytes], Any] = _ms_dec.decode
ms_encode: Callable[[Any], bytes] = _ms_enc.encode

# naive variant for the rejection matrix only: ^...$ anchors
MsEventDollar = _event_struct("MsEventDollar", "^", "$")

ms_dollar_decode = msgspec.json.Decoder(MsEventDollar).decode
