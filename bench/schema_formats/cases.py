"""The rejection matrix's inputs: one valid event and bad or edge variants of it, each with the
verdict it should get."""

from __future__ import annotations

from typing import Any

import orjson

from bench.schema_formats.contract import AMOUNT_MAX

__all__ = ["CASES", "VALID"]

VALID = {
    "schema": 1,
    "event_id": "evt-000123",
    "occurred_at": "2026-11-23T08:15:00+07:00",
    "source": "evn-hanoi",
    "channel": "utility",
    "segment": "electricity",
    "district": "hoan-kiem",
    "method": "qr",
    "amount_vnd": 350000,
    "payer": "3f9a" + "0" * 60,
}
_DROP = object()


def case(**changes: Any) -> bytes:
    d = dict(VALID)
    for k, v in changes.items():
        if v is _DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return orjson.dumps(d)


def _usec_is(us: int):
    return lambda rec: rec.occurred_at.microsecond == us


def _no_extra(enc):
    return lambda rec: b"note" not in enc(rec) and not hasattr(rec, "note")


# (label, bytes, expect_accept, required?, value-check factory taking encoder or None)
CASES = [
    ("naive timestamp", case(occurred_at="2026-11-23T08:15:00"), False, True, None),
    ("amount 0", case(amount_vnd=0), False, True, None),
    ("amount true", case(amount_vnd=True), False, True, None),
    ("bad method 'cheque'", case(method="cheque"), False, True, None),
    ("event_id with space", case(event_id="evt 123"), False, True, None),
    ("amount 350000.0 (float)", case(amount_vnd=350000.0), False, False, None),
    ('amount "350000" (str)', case(amount_vnd="350000"), False, False, None),
    ("amount 10**12+1", case(amount_vnd=AMOUNT_MAX + 1), False, False, None),
    ("amount 10**12 (edge, ok)", case(amount_vnd=AMOUNT_MAX), True, False, None),
    ("schema true", case(schema=True), False, False, None),
    ("schema 2", case(schema=2), False, False, None),
    ("event_id 'evt-1\\n'", case(event_id="evt-1\n"), False, False, None),
    ("event_id 65 chars", case(event_id="e" * 65), False, False, None),
    ("source 'hà-nội' (non-ASCII)", case(source="hà-nội"), False, False, None),
    ("channel 'Utility'", case(channel="Utility"), False, False, None),
    ("missing amount_vnd", case(amount_vnd=_DROP), False, False, None),
    ("ts unix int 1795396500", case(occurred_at=1795396500), False, False, None),
    ("ts date only", case(occurred_at="2026-11-23"), False, False, None),
    ("ts '+0700' (not RFC 3339)", case(occurred_at="2026-11-23T08:15:00+0700"), False, False, None),
    ("ts trailing garbage", case(occurred_at="2026-11-23T08:15:00+07:00xyz"), False, False, None),
    ("ts space separator", case(occurred_at="2026-11-23 08:15:00+07:00"), None, False, None),
    ("ts 'Z' (ok)", case(occurred_at="2026-11-23T01:15:00Z"), True, False, None),
    ("ts lowercase 't..z' (RFC ok)", case(occurred_at="2026-11-23t01:15:00z"), True, False, None),
    (
        "ts '.25' = 250000us (ok)",
        case(occurred_at="2026-11-23T08:15:00.25+07:00"),
        True,
        False,
        lambda enc: _usec_is(250000),
    ),
    ("payer absent (ok)", case(payer=_DROP), True, False, None),
    ("payer null (ok)", case(payer=None), True, False, None),
    ("payer 'XYZ'", case(payer="XYZ"), False, False, None),
    (
        "extra fields (ok, dropped)",
        case(note="x", trace={"a": 1}),
        True,
        False,
        lambda enc: _no_extra(enc),
    ),
    ("top-level array", b"[1,2,3]", False, False, None),
]
