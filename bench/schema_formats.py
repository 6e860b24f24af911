#!/usr/bin/env python3
"""Benchmark: payment-event bytes <-> validated immutable typed record.

Standalone; needs only: msgspec orjson pydantic faust-streaming==0.15.3 aiokafka<0.15
Run:  python bench/schema_formats.py           (about 1 minute)

Options compared
  (a) msgspec.Struct(frozen=True) + msgspec.Meta constraints, msgspec.json.Decoder(Type)
  (b) orjson.loads + frozen slots dataclass + hand-written validation
  (c) pydantic v2 BaseModel (frozen, strict, Field constraints), model_validate_json
  (d) faust.Record(validation=True): faust validates only lengths/int ranges and
      silently coerces types, so it is combined with orjson.loads + the same manual
      checks as (b) before the record is built (faust's own validation is kept on).

Extra columns in the rejection matrix are *not* benchmarked; they show what goes
wrong with the obvious-but-naive configuration of each library:
  a:$      msgspec with ^...$ anchors (Python `$` also matches before a final "\\n")
  c:Lit    pydantic strict=True but `schema: Literal[1]`
  c:lax    pydantic with Literal[1] and without strict=True
  d:faust  faust.Record(validation=True).loads alone (no manual checks)

Event rules: schema == 1; event_id 1-64 of [A-Za-z0-9._:-]; occurred_at RFC 3339 with
offset (timezone-aware); source/segment/district slug [a-z0-9-]{1,64}; channel in
{utility, market, street}; method in METHODS; amount_vnd int 1..10**12 (no bool,
no float); payer optional (absent or null) 64-char lowercase hex. Extra fields are
allowed and ignored (not kept on the record, not re-emitted).
"""

from __future__ import annotations

import gc
import platform
import random
import re
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import orjson
import pydantic
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import faust
    from faust.models.fields import IntegerField, StringField

N_EVENTS = 100_000
REPS = 5
WARMUP = 1  # untimed pass before the timed reps (first pass pays page faults)
SEED = 1

CHANNELS = ("utility", "market", "street")
METHODS = ("cash", "card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money")
AMOUNT_MAX = 10**12
FIELDS = (
    "schema",
    "event_id",
    "occurred_at",
    "source",
    "channel",
    "segment",
    "district",
    "method",
    "amount_vnd",
    "payer",
)

# ---------------------------------------------------------------------------
# (a) msgspec
# ---------------------------------------------------------------------------
# msgspec compiles `pattern` with Python's `re` and uses .search(), so `$` would
# also match just before a trailing "\n" -> use \A ... \Z for a full match.
MsEventId = Annotated[str, msgspec.Meta(pattern=r"\A[A-Za-z0-9._:-]{1,64}\Z")]
MsSlug = Annotated[str, msgspec.Meta(pattern=r"\A[a-z0-9-]{1,64}\Z")]
MsHex = Annotated[str, msgspec.Meta(pattern=r"\A[0-9a-f]{64}\Z")]
MsAware = Annotated[datetime, msgspec.Meta(tz=True)]  # tz=True -> reject naive
MsAmount = Annotated[int, msgspec.Meta(ge=1, le=AMOUNT_MAX)]


class MsEvent(msgspec.Struct, frozen=True):
    schema: Literal[1]
    event_id: MsEventId
    occurred_at: MsAware
    source: MsSlug
    channel: Literal["utility", "market", "street"]
    segment: MsSlug
    district: MsSlug
    method: Literal[
        "cash", "card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money"
    ]
    amount_vnd: MsAmount
    payer: MsHex | None = None


_ms_dec = msgspec.json.Decoder(MsEvent)
_ms_enc = msgspec.json.Encoder()
ms_decode: Callable[[bytes], MsEvent] = _ms_dec.decode
ms_encode: Callable[[Any], bytes] = _ms_enc.encode

# naive variant for the rejection matrix only: ^...$ anchors
MsEventIdDollar = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
MsSlugDollar = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,64}$")]
MsHexDollar = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class MsEventDollar(msgspec.Struct, frozen=True):
    schema: Literal[1]
    event_id: MsEventIdDollar
    occurred_at: MsAware
    source: MsSlugDollar
    channel: Literal["utility", "market", "street"]
    segment: MsSlugDollar
    district: MsSlugDollar
    method: Literal[
        "cash", "card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money"
    ]
    amount_vnd: MsAmount
    payer: MsHexDollar | None = None


ms_dollar_decode = msgspec.json.Decoder(MsEventDollar).decode

# ---------------------------------------------------------------------------
# (b) orjson + frozen slots dataclass + manual validation
# ---------------------------------------------------------------------------
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


def check_raw(d: Any) -> tuple:
    """Validate an orjson-decoded object; return field values in FIELDS order."""
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
    try:
        d = orjson.loads(b)
    except orjson.JSONDecodeError as e:
        raise InvalidEvent(f"bad JSON: {e}") from None
    return DcEvent(*check_raw(d))


def dc_encode(x: DcEvent) -> bytes:
    return orjson.dumps(x)  # orjson serialises (slots) dataclasses + aware datetimes natively


# ---------------------------------------------------------------------------
# (c) pydantic v2
# ---------------------------------------------------------------------------
PdSlug = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]  # Rust regex: $ = end of text


class PdEvent(BaseModel):
    # strict=True: no bool->int, no 1.0->int, no "123"->int, no unix-int datetimes,
    # and Literal[1] no longer accepts `true`.
    model_config = ConfigDict(
        frozen=True, strict=True, extra="ignore", serialize_by_alias=True, validate_by_name=True
    )
    # a field literally named `schema` shadows BaseModel.schema() (UserWarning) -> alias.
    # Literal[1] would accept `true` and `1.0` even with strict=True -> use int ge=le=1.
    schema_: int = Field(alias="schema", ge=1, le=1)
    event_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")
    occurred_at: AwareDatetime
    source: PdSlug
    channel: Literal["utility", "market", "street"]
    segment: PdSlug
    district: PdSlug
    method: Literal[
        "cash", "card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money"
    ]
    amount_vnd: int = Field(ge=1, le=AMOUNT_MAX)
    payer: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class PdEventLiteral(PdEvent):  # matrix only: strict, but schema as Literal[1]
    schema_: Literal[1] = Field(alias="schema")


class PdEventLax(PdEventLiteral):  # matrix only: Literal[1] and no strict=True
    model_config = ConfigDict(strict=False)


pd_decode = PdEvent.model_validate_json
_pd_ta = TypeAdapter(PdEvent)
pd_encode: Callable[[Any], bytes] = _pd_ta.dump_json
pd_lax_decode = PdEventLax.model_validate_json
pd_literal_decode = PdEventLiteral.model_validate_json

# ---------------------------------------------------------------------------
# (d) faust-streaming Record
# ---------------------------------------------------------------------------
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
    try:
        d = orjson.loads(b)
    except orjson.JSONDecodeError as e:
        raise InvalidEvent(f"bad JSON: {e}") from None
    # manual checks first (also drops extra fields: faust would keep them in
    # __dict__), and hand faust an already-parsed aware datetime so that its
    # ISO-8601 parser is bypassed.
    return FaEvent.from_data(dict(zip(FIELDS, check_raw(d), strict=False)))


def fa_encode(x: FaEvent) -> bytes:
    return x.dumps()


fa_raw_decode = FaEvent.loads  # faust alone, for the rejection matrix

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------
OFFSETS = [("+07:00", 70), ("Z", 10), ("+00:00", 5), ("-05:00", 5), ("+05:30", 5), ("+05:45", 5)]


def make_events(n: int, seed: int = SEED) -> list[bytes]:
    rng = random.Random(seed)
    offs = [o for o, w in OFFSETS for _ in range(w)]
    sources = [f"evn-{c}" for c in ("hanoi", "hcmc", "danang", "haiphong", "cantho")] + [
        "sawaco",
        "hawaco",
        "cho-ben-thanh",
        "cho-dong-xuan",
        "vinmart-12",
    ]
    segments = [
        "electricity",
        "water",
        "gas",
        "internet",
        "produce",
        "seafood",
        "street-food",
        "parking",
    ]
    districts = [
        "hoan-kiem",
        "ba-dinh",
        "dong-da",
        "hai-ba-trung",
        "cau-giay",
        "quan-1",
        "quan-3",
        "binh-thanh",
        "thu-duc",
        "son-tra",
    ]
    base = datetime(2026, 1, 1)
    out = []
    for i in range(n):
        wall = base + timedelta(seconds=rng.randrange(365 * 86400))
        ts = wall.strftime("%Y-%m-%dT%H:%M:%S")
        r = rng.random()
        if r < 0.10:
            ts += f".{rng.randrange(1000):03d}"
        elif r < 0.15:
            ts += f".{rng.randrange(1_000_000):06d}"
        ts += rng.choice(offs)
        ev: dict[str, Any] = {
            "schema": 1,
            "event_id": f"evt-{i:06d}" if rng.random() < 0.9 else f"src:{rng.randrange(10**9)}.{i}",
            "occurred_at": ts,
            "source": rng.choice(sources),
            "channel": rng.choice(CHANNELS),
            "segment": rng.choice(segments),
            "district": rng.choice(districts),
            "method": rng.choice(METHODS),
            "amount_vnd": rng.choice(
                (rng.randrange(1_000, 5_000_000, 500), rng.randrange(1, AMOUNT_MAX + 1))
            ),
        }
        if rng.random() < 0.8:
            ev["payer"] = f"{rng.getrandbits(256):064x}"
        if rng.random() < 0.1:
            ev["note"] = "thanh toán tiền điện"  # extra field, non-ASCII
            ev["trace"] = {"hop": rng.randrange(5)}
        out.append(orjson.dumps(ev))
    return out


# ---------------------------------------------------------------------------
# bad / edge inputs
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# harness
# ---------------------------------------------------------------------------
OPTIONS = {  # key: (label, decode, encode)
    "a": ("(a) msgspec Struct", ms_decode, ms_encode),
    "b": ("(b) orjson + dataclass", dc_decode, dc_encode),
    "c": ("(c) pydantic v2", pd_decode, pd_encode),
    "d": ("(d) faust Record + manual", fa_decode, fa_encode),
}
MATRIX_EXTRA = {  # not benchmarked
    "a:$": ms_dollar_decode,
    "c:Lit": pd_literal_decode,
    "c:lax": pd_lax_decode,
    "d:faust": fa_raw_decode,
}
ENCODERS = {
    "a": ms_encode,
    "b": dc_encode,
    "c": pd_encode,
    "d": fa_encode,
    "a:$": ms_encode,
    "c:Lit": pd_encode,
    "c:lax": pd_encode,
    "d:faust": fa_encode,
}


def try_decode(dec, b):
    try:
        return True, dec(b)
    except Exception as e:  # any exception = rejected
        return False, e


def rejection_matrix():
    cols = list(OPTIONS) + list(MATRIX_EXTRA)
    decs = {k: v[1] for k, v in OPTIONS.items()} | MATRIX_EXTRA
    lines = ["| input | expected | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    required_ok = {k: True for k in cols}
    wrong = {k: 0 for k in cols}
    for label, b, expect, required, checkf in CASES:
        cells = []
        for k in cols:
            ok, res = try_decode(decs[k], b)
            cell = "accept" if ok else "reject"
            if ok and checkf is not None and not checkf(ENCODERS[k])(res):
                cell = "accept, WRONG VALUE"
                good = False
            else:
                good = expect is None or ok == expect
            if not good:
                cell = f"**{cell}** ✗"
                wrong[k] += 1
                if required:
                    required_ok[k] = False
            cells.append(cell)
        exp = {True: "accept", False: "reject", None: "either"}[expect]
        lines.append(f"| {label}{' *' if required else ''} | {exp} | " + " | ".join(cells) + " |")
    # immutability row
    cells = []
    good_rec = orjson.dumps(VALID)
    for k in cols:
        ok, rec = try_decode(decs[k], good_rec)
        try:
            rec.amount_vnd = 1
            cells.append("**mutable** ✗")
            wrong[k] += 1
        except Exception:
            cells.append("frozen")
    lines.append("| record immutable? | frozen | " + " | ".join(cells) + " |")
    lines.append("| **wrong verdicts** | | " + " | ".join(str(wrong[k]) for k in cols) + " |")
    return "\n".join(lines), required_ok


def offset_of(ts: str) -> timedelta:
    if ts[-1] in "Zz":
        return timedelta(0)
    sign = -1 if ts[-6] == "-" else 1
    return sign * timedelta(hours=int(ts[-5:-3]), minutes=int(ts[-2:]))


_TS_PARTS = re.compile(r".{19}(\.[0-9]+)?(.*)").fullmatch


def ts_change(src: str, out: str) -> list[str]:
    (fs, os_), (fo, oo) = _TS_PARTS(src).groups(), _TS_PARTS(out).groups()
    kinds = []
    if os_ != oo:
        kinds.append(f"offset '{os_}'->'{oo}'")
    if fs != fo:
        kinds.append(f"fraction {len(fs or '.') - 1}->{len(fo or '.') - 1} digits")
    if out[:19] != src[:19]:
        kinds.append("wall-clock part changed")
    return kinds


def roundtrip_stats(key, dec, enc, blobs, recs):
    eq = off_src = off_rt = text_same = 0
    changes: Counter = Counter()
    for b, x in zip(blobs, recs, strict=False):
        y = dec(enc(x))
        eq += y == x  # NB: aware-datetime == compares instants, not offsets
        src_ts = orjson.loads(b)["occurred_at"]
        off_src += x.occurred_at.utcoffset() == offset_of(src_ts)
        off_rt += y.occurred_at.utcoffset() == x.occurred_at.utcoffset() and y.occurred_at.replace(
            tzinfo=None
        ) == x.occurred_at.replace(tzinfo=None)
        out_ts = orjson.loads(enc(x))["occurred_at"]
        text_same += out_ts == src_ts
        if out_ts != src_ts:
            changes.update(ts_change(src_ts, out_ts))
    return eq, off_src, off_rt, text_same, changes


def time_it(fn, items) -> float:
    """Streaming-style timing: each result is dropped right away (as a consumer
    that decodes, handles and forgets an event would).  Collecting 100k results
    in a list instead made timings bimodal (allocator page faults) and charged
    cyclic-GC passes over the growing heap to GC-tracked records (pydantic, faust)."""
    gc.collect()
    t0 = time.perf_counter()
    for i in items:
        fn(i)
    return time.perf_counter() - t0


def fmt(v: float) -> str:
    return f"{v:,.0f}"


def main() -> int:
    t_start = time.perf_counter()
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"msgspec {msgspec.__version__}, orjson {orjson.__version__}, pydantic {pydantic.VERSION}, "
        f"faust-streaming {faust.__version__}"
    )
    blobs = make_events(N_EVENTS)
    assert len(set(blobs)) == N_EVENTS, "events must be distinct"
    avg = sum(map(len, blobs)) / len(blobs)
    print(
        f"{N_EVENTS:,} distinct events (random.Random({SEED})), "
        f"avg {avg:.0f} bytes, {REPS} reps each\n"
    )

    timings = {}
    for key, (label, dec, enc) in OPTIONS.items():
        dts, ets = [], []
        recs = [dec(b) for b in blobs]  # untimed; input for the encode benchmark
        for _ in range(WARMUP):
            time_it(dec, blobs)
            time_it(enc, recs)
        for _ in range(REPS):
            dts.append(time_it(dec, blobs))
        for _ in range(REPS):
            ets.append(time_it(enc, recs))
        timings[key] = (dts, ets)
        del recs  # keep the heap the same size for every option
        print(f"  timed {label}", flush=True)

    # correctness pass (untimed): round-trip, offsets, and a cross-check that every
    # option decoded every event to the same values (incl. the UTC offset)
    def norm(r):
        return (
            r.event_id,
            r.occurred_at,
            r.occurred_at.utcoffset(),
            r.source,
            r.channel,
            r.segment,
            r.district,
            r.method,
            r.amount_vnd,
            r.payer,
        )

    results = {}
    ref_norms = None
    mism = 0
    for key, (label, dec, enc) in OPTIONS.items():
        recs = [dec(b) for b in blobs]
        rt = roundtrip_stats(key, dec, enc, blobs, recs)
        results[key] = (label, *timings[key], rt)
        norms = [norm(r) for r in recs]
        if ref_norms is None:
            ref_norms = norms
        else:
            mism += sum(1 for x, y in zip(ref_norms, norms, strict=False) if x != y)
        del recs, norms

    matrix, required_ok = rejection_matrix()

    print(
        f"\n## Throughput (events/s over {N_EVENTS:,} events; median and min = slowest of "
        f"{REPS} reps, after {WARMUP} untimed warm-up pass)\n"
    )
    print(
        "| option | decode median | decode min | encode median | encode min "
        "| rejects 5 required bad inputs | decode(encode(x)) == x | offset kept on decode "
        "| offset kept on round-trip | timestamp text unchanged |"
    )
    print("|---|---:|---:|---:|---:|---|---|---|---|---|")
    for key, (label, dts, ets, (eq, off_src, off_rt, text_same, _c)) in results.items():
        print(
            f"| {label} | {fmt(N_EVENTS / statistics.median(dts))} | {fmt(N_EVENTS / max(dts))} "
            f"| {fmt(N_EVENTS / statistics.median(ets))} | {fmt(N_EVENTS / max(ets))} "
            f"| {'yes' if required_ok[key] else 'NO'} | {eq:,}/{N_EVENTS:,} "
            f"| {off_src:,}/{N_EVENTS:,} | {off_rt:,}/{N_EVENTS:,} | {text_same:,}/{N_EVENTS:,} |"
        )
    print(f"\nCross-check: (option, event) pairs decoded differently from (a): {mism}")
    print("\nTimestamp text changes on re-encode (value/offset preserved, text not):\n")
    for label, *_r, rt in results.values():
        ch = ", ".join(f"{k}: {v:,}" for k, v in sorted(rt[4].items())) or "none"
        print(f"- {label}: {ch}")
    print("\n## Rejection matrix (* = required; ✗ = verdict differs from expected)\n")
    print(
        "a:$ = msgspec with ^...$ patterns; c:Lit = pydantic strict but schema: Literal[1]; "
        "c:lax = pydantic Literal[1] and no strict; "
        "d:faust = faust.Record(validation=True).loads alone\n"
    )
    print(matrix)
    elapsed = time.perf_counter() - t_start
    print(f"\nTotal wall time {elapsed:.1f} s")
    bad = [k for k in OPTIONS if not required_ok[k]]
    if bad:
        print(f"FAIL: options {bad} accepted a required-bad input")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
