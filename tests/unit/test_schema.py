"""Event schema v1: decoding, rejection reasons, round trips (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cashless.schema import (
    AccountEvent,
    Channel,
    EventDecoder,
    Method,
    PaymentEvent,
    encode,
    encode_batch,
)
from cashless.taxonomy import CHANNELS, METHODS, load_taxonomy

TAXONOMY = load_taxonomy()
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC).timestamp()
HOLDER = "ab" * 32


def decoder(**kwargs: Any) -> EventDecoder:
    return EventDecoder(TAXONOMY, clock=lambda: NOW, **kwargs)


def payment(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema": 1,
        "event_id": "evt-1",
        "occurred_at": "2026-11-23T08:15:00+07:00",
        "source": "evn-hanoi",
        "channel": "utility",
        "segment": "electricity",
        "district": "hoan-kiem",
        "method": "qr",
        "amount_vnd": 350_000,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not DROP}


def account(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema": 1,
        "event_id": "acc-1",
        "occurred_at": "2026-11-20T10:00:00+07:00",
        "source": "momo",
        "type": "opened",
        "holder": HOLDER,
        "district": "cau-giay",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not DROP}


DROP = object()


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_valid_payment_decodes_to_typed_record() -> None:
    result = decoder().decode_payments(raw(payment(payer="0f" * 32)))
    assert result.rejections == []
    (event,) = result.events
    assert isinstance(event, PaymentEvent)
    assert event.occurred_at == datetime(2026, 11, 23, 1, 15, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=7)
    assert event.amount_vnd == 350_000
    assert event.payer == "0f" * 32
    assert event.key == "utility:electricity"


def test_extra_fields_are_not_an_error() -> None:
    result = decoder().decode_payments(raw(payment(terminal="T-17", note={"x": [1, 2]})))
    assert len(result.events) == 1
    assert result.rejections == []


def test_events_are_immutable() -> None:
    (event,) = decoder().decode_payments(raw(payment())).events
    with pytest.raises(AttributeError):
        event.amount_vnd = 1


def test_batch_rejects_a_bad_event_alone() -> None:
    batch = [payment(event_id="a"), payment(event_id="b", method="cheque"), payment(event_id="c")]
    result = decoder().decode_payments(raw(batch))
    assert [e.event_id for e in result.events] == ["a", "c"]
    (rejection,) = result.rejections
    assert (rejection.reason, rejection.index, rejection.event_id) == ("unknown_method", 1, "b")
    assert rejection.source == "evn-hanoi"


def test_batch_rejects_unknown_segment_alone_with_its_index() -> None:
    batch = [payment(event_id="a", segment="casino"), payment(event_id="b")]
    result = decoder().decode_payments(raw(batch))
    assert [e.event_id for e in result.events] == ["b"]
    assert [(r.reason, r.index) for r in result.rejections] == [("unknown_segment", 0)]


def test_account_event_decodes() -> None:
    result = decoder().decode_accounts(raw(account()))
    (event,) = result.events
    assert isinstance(event, AccountEvent)
    assert (event.type, event.holder, event.key) == ("opened", HOLDER, HOLDER)


def test_mixed_input_tells_accounts_by_their_holder_field() -> None:
    result = decoder().decode_mixed(raw([payment(), account(), {"schema": 1}]))
    assert [type(e) for e in result.events] == [PaymentEvent, AccountEvent]
    assert [r.reason for r in result.rejections] == ["missing_field:event_id"]


def test_future_timestamp_allows_small_clock_skew() -> None:
    just_inside = datetime.fromtimestamp(NOW + 299, UTC).isoformat()
    beyond = datetime.fromtimestamp(NOW + 301, UTC).isoformat()
    d = decoder(clock_skew_seconds=300)
    assert d.decode_payments(raw(payment(occurred_at=just_inside))).rejections == []
    (rejection,) = d.decode_payments(raw(payment(occurred_at=beyond))).rejections
    assert rejection.reason == "future_timestamp"


def test_oversize_record_is_rejected_before_parsing() -> None:
    result = decoder(max_record_bytes=100).decode_payments(raw(payment()))
    assert [r.reason for r in result.rejections] == ["oversize"]


# A corpus of malformed inputs, each with the one reason it must be rejected for.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("not json", b"{not json", "bad_json"),
    ("empty input", b"", "bad_json"),
    ("truncated", raw(payment())[:-1], "bad_json"),
    ("NaN literal", raw(payment()).replace(b"350000", b"NaN"), "bad_json"),
    ("invalid utf-8", raw(payment()).replace(b"evt-1", b"evt-\xff"), "bad_utf8"),
    (
        "invalid utf-8 in an extra field",
        raw(payment(x="\u00e9")).replace(b"\\u00e9", b"\xe9"),
        "bad_utf8",
    ),
    ("a string", b'"hello"', "not_an_object"),
    ("a number", b"42", "not_an_object"),
    ("null", b"null", "not_an_object"),
    ("array of arrays", b"[[1]]", "not_an_object"),
    ("missing occurred_at", raw(payment(occurred_at=DROP)), "missing_field:occurred_at"),
    ("missing event_id", raw(payment(event_id=DROP)), "missing_field:event_id"),
    ("missing amount", raw(payment(amount_vnd=DROP)), "missing_field:amount_vnd"),
    ("missing schema", raw(payment(schema=DROP)), "missing_field:schema"),
    ("schema 2", raw(payment(schema=2)), "unsupported_schema"),
    ("schema as string", raw(payment(schema="1")), "unsupported_schema"),
    ("unknown method", raw(payment(method="cheque")), "unknown_method"),
    ("method wrong case", raw(payment(method="QR")), "unknown_method"),
    ("unknown channel", raw(payment(channel="online")), "unknown_channel"),
    ("unknown segment", raw(payment(segment="casino")), "unknown_segment"),
    ("segment of another channel", raw(payment(segment="dong-xuan")), "unknown_segment"),
    ("unknown district", raw(payment(district="saigon")), "unknown_district"),
    ("district not a string", raw(payment(district=7)), "invalid_field:district"),
    ("amount zero", raw(payment(amount_vnd=0)), "invalid_field:amount_vnd"),
    ("amount negative", raw(payment(amount_vnd=-5)), "invalid_field:amount_vnd"),
    ("amount too large", raw(payment(amount_vnd=10**12 + 1)), "invalid_field:amount_vnd"),
    ("amount float", raw(payment(amount_vnd=1.5)), "invalid_field:amount_vnd"),
    ("amount bool", raw(payment(amount_vnd=True)), "invalid_field:amount_vnd"),
    ("amount string", raw(payment(amount_vnd="100")), "invalid_field:amount_vnd"),
    (
        "naive timestamp",
        raw(payment(occurred_at="2026-11-23T08:15:00")),
        "invalid_field:occurred_at",
    ),
    ("date only", raw(payment(occurred_at="2026-11-23")), "invalid_field:occurred_at"),
    ("garbage timestamp", raw(payment(occurred_at="yesterday")), "invalid_field:occurred_at"),
    ("epoch number timestamp", raw(payment(occurred_at=1795400000)), "invalid_field:occurred_at"),
    ("future timestamp", raw(payment(occurred_at="2027-01-01T00:00:00+07:00")), "future_timestamp"),
    ("event_id with space", raw(payment(event_id="evt 1")), "invalid_field:event_id"),
    ("event_id with trailing newline", raw(payment(event_id="evt-1\n")), "invalid_field:event_id"),
    ("source with trailing newline", raw(payment(source="evn-hanoi\n")), "invalid_field:source"),
    ("payer with trailing newline", raw(payment(payer="ab" * 32 + "\n")), "invalid_field:payer"),
    ("source not ascii", raw(payment(source="hà-nội")), "invalid_field:source"),
    ("event_id empty", raw(payment(event_id="")), "invalid_field:event_id"),
    ("event_id too long", raw(payment(event_id="e" * 65)), "invalid_field:event_id"),
    ("source upper case", raw(payment(source="EVN")), "invalid_field:source"),
    ("source too long", raw(payment(source="s" * 65)), "invalid_field:source"),
    ("payer raw phone", raw(payment(payer="0912345678")), "invalid_field:payer"),
    ("payer not a string", raw(payment(payer=912345678)), "invalid_field:payer"),
]


@pytest.mark.parametrize(("case", "data", "reason"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_payment_is_rejected_with_its_reason(case: str, data: bytes, reason: str) -> None:
    result = decoder().decode_payments(data)
    assert result.events == []
    assert [r.reason for r in result.rejections] == [reason], case


MALFORMED_ACCOUNTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown type", account(type="suspended"), "unknown_type"),
    ("missing holder", account(holder=DROP), "missing_field:holder"),
    ("raw phone as holder", account(holder="0987654321"), "invalid_field:holder"),
    ("unknown district", account(district="da-nang"), "unknown_district"),
    ("missing type", account(type=DROP), "missing_field:type"),
]


@pytest.mark.parametrize(
    ("case", "event", "reason"), MALFORMED_ACCOUNTS, ids=[c[0] for c in MALFORMED_ACCOUNTS]
)
def test_malformed_account_is_rejected_with_its_reason(
    case: str, event: dict[str, Any], reason: str
) -> None:
    result = decoder().decode_accounts(raw(event))
    assert result.events == []
    assert [r.reason for r in result.rejections] == [reason], case


# -- properties ----------------------------------------------------------------------------------

segments = st.sampled_from(sorted(TAXONOMY.segments))
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
event_times = st.builds(
    lambda seconds, tz: datetime.fromtimestamp(seconds, UTC).astimezone(tz),
    st.integers(min_value=946_684_800, max_value=int(NOW)),
    offsets,
)
event_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
sources = st.from_regex(r"[a-z0-9-]{1,64}", fullmatch=True)
pseudonyms = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
districts = st.sampled_from(sorted(TAXONOMY.districts))


@st.composite
def payments(draw: st.DrawFn) -> PaymentEvent:
    channel, segment = draw(segments)
    return PaymentEvent(
        schema=1,
        event_id=draw(event_ids),
        occurred_at=draw(event_times),
        source=draw(sources),
        channel=channel,  # type: ignore[arg-type]
        segment=segment,
        district=draw(districts),
        method=draw(st.sampled_from(METHODS)),
        amount_vnd=draw(st.integers(min_value=1, max_value=10**12)),
        payer=draw(st.none() | pseudonyms),
    )


accounts = st.builds(
    AccountEvent,
    schema=st.just(1),
    event_id=event_ids,
    occurred_at=event_times,
    source=sources,
    type=st.sampled_from(["opened", "closed"]),
    holder=pseudonyms,
    district=districts,
)


@given(payments())
def test_payment_round_trips_exactly(event: PaymentEvent) -> None:
    data = encode(event)
    (decoded,) = decoder().decode_payments(data).events
    assert decoded == event
    assert decoded.occurred_at.utcoffset() == event.occurred_at.utcoffset()
    assert encode(decoded) == data


@given(accounts)
def test_account_round_trips_exactly(event: AccountEvent) -> None:
    data = encode(event)
    (decoded,) = decoder().decode_accounts(data).events
    assert decoded == event
    assert encode(decoded) == data


@given(st.lists(payments(), max_size=20))
def test_batch_round_trips_in_order(events: list[PaymentEvent]) -> None:
    result = decoder().decode_payments(encode_batch(events))
    assert result.rejections == []
    assert result.events == events


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = decoder().decode_payments(data)
    assert len(result.events) + len(result.rejections) >= 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.lists(st.dictionaries(st.sampled_from(sorted(payment())), json_values), max_size=5))
def test_every_item_of_any_json_batch_is_accepted_or_rejected(items: list[dict[str, Any]]) -> None:
    result = decoder().decode_payments(msgspec.json.encode(items))
    assert len(result.events) + len(result.rejections) == len(items)
    assert all(r.index is not None and 0 <= r.index < len(items) for r in result.rejections)


def test_channels_and_methods_match_the_schema_literals() -> None:
    assert get_args(Channel) == CHANNELS
    assert get_args(Method) == METHODS


def test_rejection_index_is_the_position_in_the_original_batch() -> None:
    batch = [
        payment(event_id="a", amount_vnd=0),
        payment(event_id="b"),
        payment(event_id="c", district="x"),
    ]
    result = decoder().decode_payments(raw(batch))
    assert [e.event_id for e in result.events] == ["b"]
    assert sorted((r.index, r.reason) for r in result.rejections) == [
        (0, "invalid_field:amount_vnd"),
        (2, "unknown_district"),
    ]
