"""Option (d): faust.Record(validation=True) built after orjson.loads and the manual checks of
(b), and faust alone for the rejection matrix."""

from __future__ import annotations

import warnings
from datetime import datetime

from bench.schema_formats.b_orjson import check_raw
from bench.schema_formats.contract import AMOUNT_MAX, FIELDS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import faust
    from faust.models.fields import IntegerField, StringField

__all__ = ["FaEvent", "fa_decode", "fa_encode", "fa_raw_decode"]

# faust field validation supports only: StringField min/max_length (no pattern),
# IntegerField min/max_value (no type strictness: validation=True forces coerce=True,
# so int(True)=1, int(1.9)=1, int("5")=5), nothing for choices, nothing for tz.
# Its pure-Python ISO-8601 parser (used when ciso8601 is not installed) accepts
# naive datetimes, trailing garbage, and reads ".25" as 25 microseconds.


class FaEvent(
    faust.Record,
    validation=True,
    isodates=True,
    serializer="json",
    include_metadata=False,
    namespace="bench.payment_event",
):
    schema: int = IntegerField(min_value=1, max_value=1)
    event_id: str = StringField(min_length=1, max_length=64)
    occurred_at: datetime
    source: str = StringField(min_length=1, max_length=64)
    channel: str
    segment: str = StringField(min_length=1, max_length=64)
    district: str = StringField(min_length=1, max_length=64)
    method: str
    amount_vnd: int = IntegerField(min_value=1, max_value=AMOUNT_MAX)
    payer: str | None = None


def fa_decode(b: bytes) -> FaEvent:
    # manual checks first (also drops extra fields: faust would keep them in
    # __dict__), and hand faust an already-parsed aware datetime so that its
    # ISO-8601 parser is bypassed.
    return FaEvent.from_data(dict(zip(FIELDS, check_raw(b), strict=False)))


def fa_encode(x: FaEvent) -> bytes:
    return x.dumps()


fa_raw_decode = FaEvent.loads  # faust alone, for the rejection matrix
