"""Pseudonyms and scrubbing: stable keyed pseudonyms, and no raw identifier ever passes through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cashless.privacy import (
    Pseudonymiser,
    Scrubber,
    contains_identifier,
    derive_key,
    is_pseudonym,
    normalise_identifier,
)
from tests.replay_data import (
    FAMILY_NAMES,
    GIVEN_NAMES,
    MIDDLE_NAMES,
    card_number,
    citizen_id,
    phone_number,
)

KEY = b"unit-test-key-0123456789"


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(KEY)


@pytest.fixture
def scrubber(pseudonymiser: Pseudonymiser) -> Scrubber:
    return Scrubber(pseudonymiser)


def payment(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema": 1,
        "event_id": "evt-1",
        "occurred_at": "2026-11-23T08:15:00+07:00",
        "source": "hawaco",
        "channel": "utility",
        "segment": "water",
        "district": "dong-da",
        "method": "qr",
        "amount_vnd": 150_000,
    }
    record.update(extra)
    return record


# -- pseudonyms ----------------------------------------------------------------------------------


def test_pseudonym_is_64_lowercase_hex_and_stable(pseudonymiser: Pseudonymiser) -> None:
    first = pseudonymiser.pseudonym("0912345678")
    assert is_pseudonym(first)
    assert Pseudonymiser(KEY).pseudonym("0912345678") == first, "same key, same pseudonym"
    assert Pseudonymiser(b"another-key-0123456").pseudonym("0912345678") != first


@pytest.mark.parametrize(
    "spelling",
    [
        "0912345678",
        "+84 912 345 678",
        "84912345678",
        "0084912345678",
        "091-234-5678",
        "0912.345.678",
    ],
)
def test_vietnamese_phone_spellings_share_one_pseudonym(
    pseudonymiser: Pseudonymiser, spelling: str
) -> None:
    assert normalise_identifier(spelling) == "0912345678"
    assert pseudonymiser.pseudonym(spelling) == pseudonymiser.pseudonym("0912345678")


def test_landline_with_country_prefix_normalises(pseudonymiser: Pseudonymiser) -> None:
    assert normalise_identifier("+84 24 3826 1234") == "02438261234"


def test_identifiers_are_case_folded_but_otherwise_distinct(pseudonymiser: Pseudonymiser) -> None:
    assert pseudonymiser.pseudonym("Wallet-AB12") == pseudonymiser.pseudonym("wallet ab12")
    assert pseudonymiser.pseudonym("001203012345") != pseudonymiser.pseudonym("001203012346")


def test_the_key_is_never_shown(pseudonymiser: Pseudonymiser, scrubber: Scrubber) -> None:
    assert KEY.decode() not in repr(pseudonymiser)
    assert KEY.decode() not in repr(scrubber)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        Pseudonymiser(b"")


def test_derived_keys_differ_by_purpose() -> None:
    assert derive_key(KEY, "a") != derive_key(KEY, "b")
    assert derive_key(KEY, "a") != KEY


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a" * 64, True),
        ("0" * 64, True),
        ("A" * 64, False),
        ("a" * 63, False),
        ("a" * 64 + "\n", False),
        ("g" * 64, False),
    ],
)
def test_is_pseudonym(value: str, expected: bool) -> None:
    assert is_pseudonym(value) is expected


# -- identifier detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "0912345678",
        "call 0912 345 678 after 5pm",
        "+84912345678",
        "84 912 345 678",
        "024 3826 1234",
        "cccd 001203012345",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "2026-11-23 0912345678",
        "an.nguyen@example.vn",
    ],
)
def test_raw_identifiers_are_detected(value: str) -> None:
    assert contains_identifier(value)
    assert contains_identifier(value, strict=True)


@pytest.mark.parametrize(
    "value",
    [
        "evt-1",
        "evt-0000000001",  # zero-padded counter, not a phone
        "2026-11-23T08:15:00+07:00",
        "hoan-kiem",
        "123456789012",  # 12 digits without a province code
        "4111111111111112",  # 16 digits failing the Luhn check
        "inv:2026:000123",
    ],
)
def test_ordinary_contract_values_are_not_identifiers(value: str) -> None:
    assert not contains_identifier(value)


def test_strict_rule_catches_any_long_digit_run() -> None:
    assert contains_identifier("acct 19036512345678", strict=True)
    assert contains_identifier("cmnd 123456789", strict=True)
    assert not contains_identifier("order 12345678", strict=True)


# -- scrubbing -----------------------------------------------------------------------------------


def test_personal_fields_are_dropped_at_any_depth_and_spelling(scrubber: Scrubber) -> None:
    record = payment(
        name="Nguyễn Văn An",
        **{"Customer Name": "Trần Thị Bình", "PhoneNumber": "x", "EMAIL": "y"},
        customer={"full_name": "Lê Văn Cường", "cccd": "z", "tier": "gold"},
        contacts=[{"msisdn": "w", "kind": "home"}],
        payer_phone="v",
        billing_address="12 Hàng Đào",
    )
    clean = scrubber.scrub(record)
    assert clean == payment(customer={"tier": "gold"}, contacts=[{"kind": "home"}])


def test_payer_and_holder_become_pseudonyms(
    scrubber: Scrubber, pseudonymiser: Pseudonymiser
) -> None:
    clean = scrubber.scrub(payment(payer="+84 912 345 678"))
    assert clean["payer"] == pseudonymiser.pseudonym("0912345678")
    account = scrubber.scrub({"holder": "001203012345", "type": "opened"})
    assert account["holder"] == pseudonymiser.pseudonym("001203012345")


def test_existing_pseudonyms_are_kept(scrubber: Scrubber) -> None:
    token = "ab" * 32
    assert scrubber.scrub(payment(payer=token))["payer"] == token
    assert scrubber.scrub(payment(payer=token.upper()))["payer"] == token


def test_payer_of_another_type_is_hashed_never_kept(scrubber: Scrubber) -> None:
    clean = scrubber.scrub(payment(payer=912345678))
    assert is_pseudonym(clean["payer"])
    assert scrubber.scrub(payment(payer=None))["payer"] is None
    assert scrubber.scrub(payment(payer=" "))["payer"] is None


def test_event_id_holding_an_identifier_is_pseudonymised_not_dropped(
    scrubber: Scrubber, pseudonymiser: Pseudonymiser
) -> None:
    first = scrubber.scrub(payment(event_id="0912345678"))
    again = scrubber.scrub(payment(event_id="0912345678"))
    assert is_pseudonym(first["event_id"])
    assert first["event_id"] == again["event_id"], "dedup on (source, event_id) still works"
    assert first["event_id"] != pseudonymiser.pseudonym("0912345678"), "unlinkable to payers"


def test_stray_identifiers_in_other_fields_are_dropped(scrubber: Scrubber) -> None:
    record = payment(
        note="khách hàng gọi 0912345678",
        reference="4111 1111 1111 1111",
        account=19036512345678,
        district="001203012345",
        tags=["vip", "0987654321"],
        ok_count=42,
        ratio=0.5,
        flag=True,
    )
    clean = scrubber.scrub(record)
    assert "note" not in clean
    assert "reference" not in clean
    assert "account" not in clean
    assert "district" not in clean, "a contract field holding an identifier is dropped too"
    assert clean["tags"] == ["vip"]
    assert clean["ok_count"] == 42
    assert clean["ratio"] == 0.5
    assert clean["flag"] is True


def test_contract_integers_are_kept(scrubber: Scrubber) -> None:
    clean = scrubber.scrub(payment(amount_vnd=84_912_345_678))
    assert clean["amount_vnd"] == 84_912_345_678


def test_a_valid_event_passes_unchanged(scrubber: Scrubber) -> None:
    record = payment(payer="cd" * 32)
    assert scrubber.scrub(record) == record


def test_keys_that_are_identifiers_are_dropped(scrubber: Scrubber) -> None:
    clean = scrubber.scrub(payment(**{"0912345678": "paid"}))
    assert clean == payment()


def test_extra_personal_field_names(pseudonymiser: Pseudonymiser) -> None:
    scrubber = Scrubber(pseudonymiser, personal_fields={"ma_khach_hang"}, personal_suffixes=())
    clean = scrubber.scrub(payment(ma_khach_hang="KH001", name="kept: not in this list"))
    assert "ma_khach_hang" not in clean
    assert clean["name"] == "kept: not in this list"


# -- the property: nothing raw gets through ------------------------------------------------------

full_names = st.builds(
    lambda f, m, g: f"{f} {m} {g}",
    st.sampled_from(FAMILY_NAMES),
    st.sampled_from(MIDDLE_NAMES),
    st.sampled_from(GIVEN_NAMES),
)
phones = st.builds(lambda seed: phone_number(seed), st.integers(0, 10**9))
citizen_ids = st.builds(lambda seed: citizen_id(seed), st.integers(0, 10**9))
cards = st.builds(lambda seed: card_number(seed), st.integers(0, 10**9))


def spellings(phone: str) -> list[str]:
    national = phone[1:]
    return [
        phone,
        f"+84 {national[:3]} {national[3:6]} {national[6:]}",
        f"{phone[:4]}.{phone[4:7]}.{phone[7:]}",
        f"{phone[:4]}-{phone[4:7]}-{phone[7:]}",
    ]


@settings(max_examples=300, deadline=None)
@given(
    name=full_names,
    phone=phones,
    id_number=citizen_ids,
    card=cards,
    spelling=st.integers(0, 3),
    placement=st.integers(0, 5),
)
def test_no_raw_identifier_survives_scrubbing(
    name: str, phone: str, id_number: str, card: str, spelling: int, placement: int
) -> None:
    scrubber = Scrubber(Pseudonymiser(KEY))
    written = spellings(phone)[spelling]
    places: list[dict[str, Any]] = [
        {"payer": written, "customer_name": name, "cccd": id_number, "card_number": card},
        {"note": f"{name}, {written}, CCCD {id_number}, thẻ {card}"},
        {"customer": {"name": name, "contact": {"mobile": written}}, "ref": card},
        {"event_id": f"inv-{phone}", "memo": [written, id_number, card]},
        {"holder": id_number, "type": "opened", "Họ tên": name, "ghi chú": f"sđt {written}"},
        {"items": [{"desc": f"thẻ {card}"}, {"desc": f"CCCD {id_number}", "phone": written}]},
    ]
    record = payment(**places[placement])
    text = json.dumps(scrubber.scrub(record), ensure_ascii=False)
    digits = text.replace(" ", "").replace(".", "").replace("-", "")
    for raw in (name, written, phone, phone[1:], id_number, card):
        assert raw not in text
    for raw in (phone[1:], id_number, card):
        assert raw not in digits
