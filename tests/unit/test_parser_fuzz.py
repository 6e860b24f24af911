"""Hostile input for the shared event decoder (contract 1), fuzzed with hypothesis (no broker).

Every input goes through `EventDecoder` and two things are checked each time:

- it never raises: the only outcome is accepted events and rejections with a reason from the
  documented, finite set (so `cashless_events_rejected_total{reason}` stays bounded);
- what it accepts satisfies contract 1, judged by `contract_reason` below, a plain-Python reading
  of the contract written without msgspec. For JSON this module generated itself the decoder's
  accept/reject decision must also equal that oracle's, item by item.

The counts are moderate by default (`make test`); `CASHLESS_FUZZ_EXAMPLES=N` gives every property
N examples (`make fuzz`). At the end the module prints how many inputs it decoded.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cashless.schema import (
    AccountEvent,
    DecodeResult,
    EventDecoder,
    PaymentEvent,
    encode,
)
from cashless.taxonomy import CHANNELS, METHODS, load_taxonomy
from producers.replay.readers import read_jsonl
from streams.ledger import PaymentLedger
from streams.metrics import ExportSettings, MetricsCollector, current_values
from streams.summary import GlobalView, summarise_payments
from tests.unit.streams.test_pipeline_logic import DictStore
from tests.unit.test_schema import payment as valid_payment

FUZZ_EXAMPLES = int(os.environ.get("CASHLESS_FUZZ_EXAMPLES") or 0)
TAXONOMY = load_taxonomy()
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC).timestamp()
SKEW = 300.0
LIMIT = 1_048_576
DECODER = EventDecoder(TAXONOMY, clock=lambda: NOW)
INPUTS: Counter[str] = Counter()

Kind = str  # "payments", "accounts" or "mixed"
KINDS: tuple[Kind, ...] = ("payments", "accounts", "mixed")
PAYMENT_FIELDS = tuple(PaymentEvent.__struct_fields__)
ACCOUNT_FIELDS = tuple(AccountEvent.__struct_fields__)
ALL_FIELDS = frozenset(PAYMENT_FIELDS) | frozenset(ACCOUNT_FIELDS)
FIXED_REASONS = frozenset(
    {
        "bad_utf8",
        "bad_json",
        "oversize",
        "not_an_object",
        "unsupported_schema",
        "unknown_channel",
        "unknown_method",
        "unknown_type",
        "unknown_segment",
        "unknown_district",
        "future_timestamp",
    }
)
# Every reason the decoder may give: finite, so a label made of it is bounded.
REASONS = FIXED_REASONS | {
    f"{p}:{f}" for p in ("missing_field", "invalid_field") for f in ALL_FIELDS
}
ENUM_REASONS = {
    "schema": "unsupported_schema",
    "channel": "unknown_channel",
    "method": "unknown_method",
    "type": "unknown_type",
}


def fuzz(default: int) -> settings:
    """Hypothesis settings: `default` examples, or CASHLESS_FUZZ_EXAMPLES when it is set."""
    return settings(
        max_examples=FUZZ_EXAMPLES or default,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def _report_inputs(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        detail = ", ".join(f"{name} {count}" for name, count in sorted(INPUTS.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nparser fuzz: {sum(INPUTS.values())} inputs decoded ({detail})")


# -- the contract, read independently of msgspec ---------------------------------------------------

_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_SOURCE = re.compile(r"[a-z0-9-]{1,64}")
_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
# RFC 3339 date-time; the decoder also takes an offset without its colon (`+0700`).
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):?([0-9]{2}))"
)
_DISTRICTS = frozenset(TAXONOMY.districts)


def event_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 date-time with offset (whole seconds), else None."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    offset = timedelta(0)
    if match[7]:
        hours, minutes = int(match[8]), int(match[9])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes) * (-1 if match[7] == "-" else 1)
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        return moment.timestamp()
    except (ValueError, OverflowError):
        return None


def _is_int(value: Any) -> bool:
    return type(value) is int


def _string(value: Any, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def contract_reason(item: dict[str, Any], kind: str) -> str | None:
    """Why an event object breaks contract 1 (a rough reason), or None when it is valid."""
    fields = PAYMENT_FIELDS if kind == "payments" else ACCOUNT_FIELDS
    required = [f for f in fields if f != "payer"]
    for name in required:
        if name not in item:
            return f"missing_field:{name}"
    checks: dict[str, Callable[[Any], bool]] = {
        "schema": lambda v: _is_int(v) and v == 1,
        "event_id": lambda v: _string(v, _EVENT_ID),
        "occurred_at": lambda v: event_time(v) is not None,
        "source": lambda v: _string(v, _SOURCE),
        "district": lambda v: isinstance(v, str) and v in _DISTRICTS,
    }
    if kind == "payments":
        checks["channel"] = lambda v: isinstance(v, str) and v in CHANNELS
        checks["segment"] = lambda v: (
            isinstance(v, str) and (item["channel"], v) in TAXONOMY.segments
        )
        checks["method"] = lambda v: isinstance(v, str) and v in METHODS
        checks["amount_vnd"] = lambda v: _is_int(v) and 1 <= v <= 10**12
        if "payer" in item:
            checks["payer"] = lambda v: v is None or _string(v, _PSEUDONYM)
    else:
        checks["type"] = lambda v: v in ("opened", "closed")
        checks["holder"] = lambda v: _string(v, _PSEUDONYM)
    for name, ok in checks.items():
        if not ok(item[name]):
            return f"bad:{name}"
    moment = event_time(item["occurred_at"])
    if moment is not None and moment > NOW + SKEW:
        return "future_timestamp"
    return None


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def _no_surrogate(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Every pair, also the ones a repeated key overwrites: the decoder reads them all.
    if any(_has_surrogate(k) or _has_surrogate(v) for k, v in pairs):
        raise ValueError("a lone surrogate is not a Unicode string")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("out of range")
    return value


def expected(raw: bytes, kind: Kind) -> str | list[str | None]:
    """The oracle: a whole-record reason, or per item None (accepted) or a rough reason."""
    if len(raw) > LIMIT:
        return "oversize"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_utf8"
    try:
        parsed = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_no_surrogate
        )
    except (ValueError, RecursionError):
        return "bad_json"
    if _has_surrogate(parsed):  # a lone `\ud800` escape: not a Unicode string
        return "bad_json"
    items = parsed if isinstance(parsed, list) else [parsed]
    out: list[str | None] = []
    for item in items:
        if not isinstance(item, dict):
            out.append("not_an_object")
        elif kind == "mixed":
            out.append(contract_reason(item, "accounts" if "holder" in item else "payments"))
        else:
            out.append(contract_reason(item, kind))
    return out


# -- decoding and the checks made on every input ---------------------------------------------------


def decode(raw: bytes, kind: Kind, counter: str) -> DecodeResult:
    """Decode with the shared decoder, counting the input under `counter`."""
    INPUTS[counter] += 1
    if kind == "payments":
        return DECODER.decode_payments(raw)
    if kind == "accounts":
        return DECODER.decode_accounts(raw)
    return DECODER.decode_mixed(raw)


def check_sound(raw: bytes, kind: Kind, result: DecodeResult) -> None:
    """Properties that hold for any input whatsoever."""
    assert {r.reason for r in result.rejections} <= REASONS
    assert all(r.detail for r in result.rejections)
    whole = [r for r in result.rejections if r.index is None]
    if whole and result.rejections[0].reason in ("oversize", "bad_utf8", "bad_json"):
        assert result.events == []
        assert len(result.rejections) == 1
    indices = [r.index for r in result.rejections if r.index is not None]
    assert len(indices) == len(set(indices)), "one rejection per item"
    for event in result.events:
        wanted = {"payments": (PaymentEvent,), "accounts": (AccountEvent,)}.get(
            kind, (PaymentEvent, AccountEvent)
        )
        assert isinstance(event, wanted)
        as_json = json.loads(encode(event))
        event_kind = "payments" if isinstance(event, PaymentEvent) else "accounts"
        assert contract_reason(as_json, event_kind) is None, as_json
        # What was accepted survives its own encoding unchanged.
        again = DECODER.decode_mixed(encode(event))
        assert again.events == [event]
        assert again.rejections == []


def check_against_oracle(raw: bytes, kind: Kind, result: DecodeResult) -> None:
    """For JSON this module built: the decoder accepts exactly what the contract accepts."""
    check_sound(raw, kind, result)
    want = expected(raw, kind)
    if isinstance(want, str):
        assert [r.reason for r in result.rejections] == [want], (raw[:300], result)
        assert result.events == []
        return
    single = not raw.lstrip().startswith(b"[")
    rejected = {(0 if single else r.index): r.reason for r in result.rejections}
    accepted = [i for i, reason in enumerate(want) if reason is None]
    assert sorted(set(range(len(want))) - set(rejected)) == accepted, (raw[:300], want, result)
    assert len(result.events) == len(accepted)
    parsed = json.loads(raw)
    items = [parsed] if single else parsed
    for index, event in zip(accepted, result.events, strict=True):
        assert json.loads(encode(event)) == _canonical(items[index], event), (items[index], event)


def _canonical(item: dict[str, Any], event: PaymentEvent | AccountEvent) -> dict[str, Any]:
    """What the event must hold: the item's contract fields, its time read by the oracle."""
    fields = PAYMENT_FIELDS if isinstance(event, PaymentEvent) else ACCOUNT_FIELDS
    out = {f: item[f] for f in fields if f in item and item[f] is not None}
    assert event.occurred_at.timestamp() == pytest.approx(event_time(item["occurred_at"]), abs=1)
    out["occurred_at"] = json.loads(encode(event))["occurred_at"]
    return out


# -- strategies ------------------------------------------------------------------------------------

segments = st.sampled_from(sorted(TAXONOMY.segments))
districts = st.sampled_from(sorted(TAXONOMY.districts))
event_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
sources = st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True)
pseudonyms = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)


@st.composite
def rfc3339(draw: st.DrawFn, latest: float = NOW) -> str:
    """A valid event time up to `latest`, in the spellings RFC 3339 allows."""
    seconds = draw(st.integers(min_value=-62_000_000_000, max_value=int(latest)))
    minutes = draw(st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
    try:
        local = datetime.fromtimestamp(seconds, UTC).astimezone(
            timezone(timedelta(minutes=minutes))
        )
    except (OverflowError, ValueError, OSError):
        local = datetime(2026, 1, 1, tzinfo=UTC)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}{draw(st.sampled_from('Tt '))}"
    text += f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    text += draw(st.sampled_from(["", ".5", ".123456", ".000000001"]))
    offset = local.utcoffset() or timedelta(0)
    if offset == timedelta(0) and draw(st.booleans()):
        return text + draw(st.sampled_from("Zz"))
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(abs(int(offset.total_seconds())) // 60, 60)
    return f"{text}{sign}{hours:02d}:{rest:02d}"


@st.composite
def payment_items(draw: st.DrawFn) -> dict[str, Any]:
    channel, segment = draw(segments)
    item: dict[str, Any] = {
        "schema": 1,
        "event_id": draw(event_ids),
        "occurred_at": draw(rfc3339()),
        "source": draw(sources),
        "channel": channel,
        "segment": segment,
        "district": draw(districts),
        "method": draw(st.sampled_from(METHODS)),
        "amount_vnd": draw(st.integers(min_value=1, max_value=10**12)),
    }
    if draw(st.booleans()):
        item["payer"] = draw(pseudonyms)
    return item


account_items = st.fixed_dictionaries(
    {
        "schema": st.just(1),
        "event_id": event_ids,
        "occurred_at": rfc3339(),
        "source": sources,
        "type": st.sampled_from(["opened", "closed"]),
        "holder": pseudonyms,
        "district": districts,
    }
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)  # lone surrogates
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)


def near_misses(valid: Any) -> st.SearchStrategy[Any]:
    """Values one small step away from a valid one: case, whitespace, NUL, a neighbour, a type."""
    out: list[Any] = []
    if isinstance(valid, str):
        out += [
            valid.upper(),
            valid + "\n",
            " " + valid,
            valid + "\x00",
            valid[:-1],
            valid * 2,
            valid.replace("e", "\u0435"),  # Cyrillic е
            valid.replace("-", "_"),
            "",
            "x" * 65,
            [valid],
            {"value": valid},
        ]
    if _is_int(valid):
        out += [0, -1, 1, 10**12, 10**12 + 1, 2**63, 2**64, -(2**63) - 1, 10**30, float(valid)]
        out += [True, False, str(valid), None]
    return st.sampled_from(out) if out else st.nothing()


def to_bytes(value: Any, ascii_only: bool) -> bytes:
    """JSON bytes; a lone surrogate becomes `\\udXXX` or, unescaped, invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


DELETE = object()


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> tuple[dict[str, Any], str]:
    """A valid event with one field mutated (changed, removed or added), and that field."""
    item = draw(payment_items() if kind == "payments" else account_items)
    fields = PAYMENT_FIELDS if kind == "payments" else ACCOUNT_FIELDS
    name = draw(st.sampled_from([*fields, "extra"]))
    current = item.get(name, "")
    options: list[st.SearchStrategy[Any]] = [json_values, near_misses(current), st.just(DELETE)]
    if name in ("channel", "segment"):
        options.append(st.sampled_from([c for c, _ in TAXONOMY.segments]))
        options.append(st.sampled_from([s for _, s in TAXONOMY.segments]))
    if name == "occurred_at":
        options.append(rfc3339(latest=NOW + 400 * 86400))
        options.append(st.text(st.sampled_from("0123456789-:+TZ. tz"), max_size=32))
    value = draw(st.one_of(options))
    if value is DELETE:
        item.pop(name, None)
    else:
        item[name] = value
    return item, name


# -- properties ------------------------------------------------------------------------------------


@fuzz(400)
@given(st.binary(max_size=2048), st.sampled_from(KINDS))
def test_arbitrary_bytes_are_accepted_or_rejected_never_raised(data: bytes, kind: Kind) -> None:
    check_sound(data, kind, decode(data, kind, "bytes"))


@fuzz(300)
@given(
    json_values | st.lists(json_values, max_size=8),
    st.booleans(),
    st.sampled_from(KINDS),
)
def test_arbitrary_json_gets_the_contracts_verdict(
    value: Any, ascii_only: bool, kind: Kind
) -> None:
    raw = to_bytes(value, ascii_only)
    check_against_oracle(raw, kind, decode(raw, kind, "json"))


@fuzz(300)
@given(
    json_values
    | st.lists(json_values, max_size=8)
    | st.lists(
        payment_items()
        | account_items
        | st.sampled_from(["payments", "accounts"]).flatmap(mutated).map(lambda m: m[0]),
        max_size=8,
    ),
)
def test_parsed_input_gets_the_same_verdict_as_its_json(value: Any) -> None:
    """`decode_parsed` (replay, on what it already parsed) agrees with `decode_mixed` on bytes."""
    raw = to_bytes(value, False)
    try:
        parsed = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return  # not JSON (NaN, say): replay rejects the line before it is parsed
    INPUTS["parsed"] += 1
    assert DECODER.decode_parsed(parsed) == DECODER.decode_mixed(raw)


@fuzz(1000)
@given(
    st.sampled_from(["payments", "accounts"]).flatmap(lambda k: st.tuples(st.just(k), mutated(k))),
    st.booleans(),
)
def test_an_event_with_one_field_mutated(
    case: tuple[str, tuple[dict[str, Any], str]], ascii_only: bool
) -> None:
    kind, (item, name) = case
    raw = to_bytes(item, ascii_only)
    result = decode(raw, kind, f"near-valid {kind}")
    check_against_oracle(raw, kind, result)
    assert_reason_names_the_field(result, name)
    check_against_oracle(raw, "mixed", decode(raw, "mixed", f"near-valid {kind}"))


def assert_reason_names_the_field(result: DecodeResult, name: str) -> None:
    """A rejection of an event with one field changed is about that field."""
    for rejection in result.rejections:
        allowed = {
            f"missing_field:{name}",
            f"invalid_field:{name}",
            "bad_json",
            "bad_utf8",
            ENUM_REASONS.get(name, ""),
        }
        if name in ("channel", "segment"):
            allowed.add("unknown_segment")
        if name == "district":
            allowed.add("unknown_district")
        if name == "occurred_at":
            allowed.add("future_timestamp")
        assert rejection.reason in allowed, (name, rejection)


@fuzz(200)
@given(
    st.lists(payment_items(), min_size=1, max_size=12),
    st.data(),
)
def test_a_mutated_event_in_a_batch_is_rejected_alone(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    bad, name = data.draw(mutated("payments"))
    at = data.draw(st.integers(min_value=0, max_value=len(items)))
    batch = [*items[:at], bad, *items[at:]]
    raw = to_bytes(batch, data.draw(st.booleans()))
    result = decode(raw, "payments", "near-valid batch")
    check_against_oracle(raw, "payments", result)
    if not isinstance(expected(raw, "payments"), str):
        assert {r.index for r in result.rejections} <= {at}, "only the mutated item"
        assert_reason_names_the_field(result, name)


@fuzz(200)
@given(payment_items(), st.sampled_from(PAYMENT_FIELDS), json_values, st.booleans())
def test_duplicate_keys_last_one_wins_everywhere(
    item: dict[str, Any], name: str, other: Any, last: bool
) -> None:
    """Both decoding paths read a repeated key as its last value, like Python's json module."""
    body = to_bytes(item, True)[1:-1]
    extra = json.dumps(name).encode() + b": " + to_bytes(other, True)
    raw = b"{" + (body + b", " + extra if last else extra + b", " + body) + b"}"
    result = decode(raw, "payments", "duplicate keys")
    check_against_oracle(raw, "payments", result)
    in_batch = b"[" + raw + b', {"not": "an event"}]'
    batched = decode(in_batch, "payments", "duplicate keys")
    check_against_oracle(in_batch, "payments", batched)


# -- the specific hostile inputs -------------------------------------------------------------------

VALID = valid_payment()
GOOD = json.dumps(VALID).encode()


def with_extra(raw_value: bytes, base: bytes = GOOD) -> bytes:
    """The valid event with an extra field `x` holding `raw_value` verbatim."""
    return base[:-1] + b', "x": ' + raw_value + b"}"


def with_field(name: str, raw_value: bytes) -> bytes:
    """The valid event with field `name` replaced by `raw_value` verbatim."""
    return GOOD.replace(json.dumps(VALID[name]).encode(), raw_value, 1)


def nested(depth: int, leaf: bytes = b"1") -> bytes:
    return b"[" * depth + leaf + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def one_item(item: bytes, count: int) -> bytes:
    return b"[" + b", ".join([item] * count) + b"]"


HOSTILE: dict[str, tuple[bytes, list[str] | None]] = {
    # size
    "record of exactly 1 MiB (valid batch, padded)": (
        one_item(GOOD, 3000)[:-1] + b" " * (LIMIT - len(one_item(GOOD, 3000))) + b"]",
        [],
    ),
    "record of 1 MiB + 1 byte": (b" " * (LIMIT + 1), ["oversize"]),
    "record of 16 MiB": (b"[" * (16 * LIMIT), ["oversize"]),
    "one string of 1 MiB - 2 bytes": (b'"' + b"a" * (LIMIT - 2) + b'"', ["not_an_object"]),
    "extra field of 1 MiB - 300 bytes": (with_extra(b'"' + b"x" * (LIMIT - 300) + b'"'), []),
    "100,000 integers in one array": (b"[" + b"1," * 99_999 + b"1]", ["not_an_object"] * 100_000),
    "200,000 empty objects in one array": (
        b"[" + b"{}," * 199_999 + b"{}]",
        ["missing_field:schema"] * 200_000,
    ),
    "integer of 5,000 digits as amount": (with_field("amount_vnd", b"9" * 5000), ["bad_json"]),
    "integer of 400 digits as amount": (
        with_field("amount_vnd", b"9" * 400),
        ["invalid_field:amount_vnd"],
    ),
    "number 1e400 as amount": (with_field("amount_vnd", b"1e400"), ["bad_json"]),
    "event id of 10,000 characters": (
        with_field("event_id", b'"' + b"e" * 10_000 + b'"'),
        ["invalid_field:event_id"],
    ),
    # nesting
    "array nested 100 deep": (nested(100), ["not_an_object"]),
    "array nested 1,000 deep": (nested(1000), ["bad_json"]),
    "array nested 100,000 deep": (nested(100_000), ["bad_json"]),
    "array nested 500,000 deep (1 MiB)": (nested(LIMIT // 2 - 1), ["bad_json"]),
    "object nested 10,000 deep": (nested_objects(10_000), ["bad_json"]),
    "unclosed nesting 900,000 deep": (b"[" * 900_000, ["bad_json"]),
    "extra field nested 50 deep": (with_extra(nested(50)), []),
    "batch item nested 10,000 deep": (b"[" + GOOD + b", " + nested(10_000) + b"]", ["bad_json"]),
    "amount nested 10,000 deep": (with_field("amount_vnd", nested(10_000)), ["bad_json"]),
    # invalid UTF-8
    "lone continuation byte in a value": (with_field("district", b'"hoan\x80kiem"'), ["bad_utf8"]),
    "0xFF in an extra field": (with_extra(b'"\xff"'), ["bad_utf8"]),
    "overlong '/' (C0 AF)": (with_field("source", b'"evn\xc0\xafhanoi"'), ["bad_utf8"]),
    "UTF-8-encoded surrogate (ED A0 80)": (with_extra(b'"\xed\xa0\x80"'), ["bad_utf8"]),
    "truncated 3-byte sequence at the end": (GOOD + b"\xe2\x82", ["bad_utf8"]),
    "invalid UTF-8 in a key": (GOOD[:-1] + b', "k\xfe": 1}', ["bad_utf8"]),
    "invalid UTF-8 outside strings": (GOOD[:-1] + b"\xff}", ["bad_utf8"]),
    "code point above U+10FFFF (F4 90 80 80)": (with_extra(b'"\xf4\x90\x80\x80"'), ["bad_utf8"]),
    "UTF-16 encoded event": (json.dumps(VALID).encode("utf-16"), ["bad_utf8"]),
    "UTF-8 byte-order mark": (b"\xef\xbb\xbf" + GOOD, ["bad_json"]),
    "escaped lone high surrogate in a value": (
        with_field("event_id", b'"a\\ud800"'),
        ["bad_json"],
    ),
    "escaped lone low surrogate in an extra field": (with_extra(b'"\\udc00"'), ["bad_json"]),
    "escaped surrogates in reverse order": (with_extra(b'"\\udc00\\ud800"'), ["bad_json"]),
    "escaped valid surrogate pair (emoji) in an extra field": (with_extra(b'"\\ud83d\\ude00"'), []),
    "NUL escaped in the segment": (
        with_field("segment", b'"electricity\\u0000"'),
        ["unknown_segment"],
    ),
    # NaN and infinities
    "NaN as amount": (with_field("amount_vnd", b"NaN"), ["bad_json"]),
    "-NaN as amount": (with_field("amount_vnd", b"-NaN"), ["bad_json"]),
    "Infinity as amount": (with_field("amount_vnd", b"Infinity"), ["bad_json"]),
    "-Infinity in an extra field": (with_extra(b"-Infinity"), ["bad_json"]),
    "lowercase nan in an extra field": (with_extra(b"nan"), ["bad_json"]),
    "inf as schema": (with_field("schema", b"inf"), ["bad_json"]),
    "NaN alone": (b"NaN", ["bad_json"]),
    "amount 1e3 (a float)": (with_field("amount_vnd", b"1e3"), ["invalid_field:amount_vnd"]),
    "amount 350000.0 (a float)": (
        with_field("amount_vnd", b"350000.0"),
        ["invalid_field:amount_vnd"],
    ),
    "schema true": (with_field("schema", b"true"), ["unsupported_schema"]),
    "schema 1.0": (with_field("schema", b"1.0"), ["unsupported_schema"]),
    # duplicate keys
    "duplicate segment, the last unknown": (
        GOOD[:-1] + b', "segment": "atlantis"}',
        ["unknown_segment"],
    ),
    "duplicate segment, the first unknown": (b'{"segment": "atlantis", ' + GOOD[1:], []),
    "duplicate amount, the last a string": (
        GOOD[:-1] + b', "amount_vnd": "5"}',
        ["invalid_field:amount_vnd"],
    ),
    "the same key 10,000 times": (
        b'{"segment": "water", ' + b'"x": 1, ' * 10_000 + GOOD[1:],
        [],
    ),
    # times
    "offset without its colon (+0700)": (
        with_field("occurred_at", b'"2026-11-23T08:15:00+0700"'),
        [],
    ),
    "no offset": (
        with_field("occurred_at", b'"2026-11-23T08:15:00"'),
        ["invalid_field:occurred_at"],
    ),
    "leap second": (
        with_field("occurred_at", b'"2026-12-31T23:59:60Z"'),
        ["invalid_field:occurred_at"],
    ),
    "year 9999, last microsecond rounded up": (
        with_field("occurred_at", b'"9999-12-31T23:59:59.9999999Z"'),
        None,  # soundness only: far in the future, rejected or not by rounding
    ),
    "year 1 at offset +23:59": (with_field("occurred_at", b'"0001-01-01T00:00:00+23:59"'), []),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_record_is_rejected_with_its_reason(case: str) -> None:
    raw, reasons = HOSTILE[case]
    for kind in ("payments", "mixed"):
        result = decode(raw, kind, "hostile cases")
        check_sound(raw, kind, result)
        if reasons is not None:
            assert sorted(r.reason for r in result.rejections) == sorted(reasons), case
            # Every copy of the valid event in an accepted record is accepted.
            assert len(result.events) == (0 if reasons else raw.count(b'"evt-1"')), case


def test_the_fast_path_ignores_what_the_generic_path_rejects_in_extra_fields() -> None:
    """A measured inconsistency: alone, a valid event is decoded straight into its struct and
    an extra field's number is skipped unread; next to a bad item the record is parsed
    generically, and a number msgspec cannot represent there rejects the whole record."""
    for extra in (b"1e400", b"-1e400", b"9" * 5000):
        alone = decode(with_extra(extra), "payments", "hostile cases")
        assert len(alone.events) == 1
        assert alone.rejections == []
        pair = b"[" + with_extra(extra) + b", 1]"
        batch = decode(pair, "payments", "hostile cases")
        check_sound(pair, "payments", batch)
        assert [r.reason for r in batch.rejections] == ["bad_json"]


# -- label cardinality -----------------------------------------------------------------------------

UNKNOWN = 10_000
START = datetime(2026, 11, 1, tzinfo=UTC)


def _payment(i: int, **fields: Any) -> bytes:
    event = {
        **VALID,
        "event_id": f"c{i}",
        "occurred_at": (START + timedelta(seconds=7 * i)).isoformat(),
        "method": METHODS[i % len(METHODS)],
        **fields,
    }
    return json.dumps(event).encode()


def exported(records: list[bytes], max_sources: int = 200) -> dict[str, set[tuple[str, str]]]:
    """Feed records to the worker's ledger (one partition, as its agent would) and return, per
    metric name, the (label, value) pairs of what its /metrics exposition shows."""
    store = DictStore()
    ledger = PaymentLedger(DECODER, store)
    for start in range(0, len(records), 1000):
        batch = list(enumerate(records[start : start + 1000], start=start))
        outcome = ledger.process(0, batch)
        store.apply({**outcome.writes, **outcome.local})
    view = GlobalView()
    view.update(summarise_payments(ledger, 0, None))
    view.update(summarise_payments(ledger, 0, view.end))
    values = current_values(
        ExportSettings(TAXONOMY, max_sources=max_sources), ledger, [0], view, True
    )
    registry = CollectorRegistry()
    MetricsCollector(lambda: values, registry)
    labels: dict[str, set[tuple[str, str]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels.items())
    return labels


def label_values(labels: dict[str, set[tuple[str, str]]], label: str) -> set[str]:
    return {value for pairs in labels.values() for name, value in pairs if name == label}


def test_ten_thousand_unknown_segments_mint_no_series() -> None:
    known = [_payment(i) for i in range(50)]
    unknown = [_payment(50 + i, segment=f"fake-segment-{i}") for i in range(UNKNOWN)]
    baseline = exported(known)
    hostile = exported(known + unknown)
    INPUTS["cardinality"] += len(known) * 2 + len(unknown)
    assert label_values(baseline, "segment") == {"electricity"}, "the check is not vacuous"
    assert label_values(hostile, "segment") == {"electricity"}
    assert label_values(hostile, "reason") == {"unknown_segment"}
    assert ("reason", "unknown_segment") in hostile["cashless_events_rejected_total"]
    series = sum(len(v) for v in hostile.values())
    assert series <= sum(len(v) for v in baseline.values()) + 1, "at most the rejection counter"


def test_ten_thousand_unknown_districts_mint_no_series() -> None:
    known = [_payment(i) for i in range(50)]
    unknown = [_payment(50 + i, district=f"fake-district-{i}") for i in range(UNKNOWN)]
    hostile = exported(known + unknown)
    INPUTS["cardinality"] += len(known) + len(unknown)
    assert label_values(hostile, "district") <= set(TAXONOMY.districts)
    assert label_values(hostile, "district") == {"hoan-kiem"}
    assert label_values(hostile, "reason") == {"unknown_district"}


def test_ten_thousand_sources_are_capped() -> None:
    records = [_payment(i, source=f"src-{i:05d}") for i in range(UNKNOWN)]
    labels = exported(records, max_sources=200)
    INPUTS["cardinality"] += len(records)
    sources = label_values(labels, "source")
    assert len(sources) == 201
    assert "other" in sources
    assert sources - {"other"} == {f"src-{i:05d}" for i in range(200)}


def test_replay_rejects_a_deeply_nested_line() -> None:
    """`cashless replay` used to stop with a RecursionError at the first such line."""
    lines = [GOOD, nested(5000), nested_objects(100_000), GOOD]
    parsed = [line for _, line in read_jsonl(io.BytesIO(b"\n".join(lines) + b"\n"))]
    INPUTS["replay lines"] += len(lines)
    assert [line.rejection.reason if line and line.rejection else None for line in parsed] == [
        None,
        "bad_json",
        "bad_json",
        None,
    ]
