"""Privacy primitives shared by producers and workers: keyed pseudonyms and record scrubbing.

Contract 1 says personal data never reaches Kafka. Two tools make that so:

`Pseudonymiser` turns an identifier (phone number, ID number, wallet id…) into a keyed
pseudonym, HMAC-SHA256 in lowercase hex, of its normalised form: spaces, dashes and dots
removed, letters case-folded, and a Vietnamese phone number's country prefix (`+84`, `0084`,
`84`) written as the national `0`. Every producer holds the same key, so one person gets the
same pseudonym from every source and is counted once.

`Scrubber.scrub` cleans one source record, recursively through nested objects and lists:

1. A field whose *name* is personal is dropped: the name, case-folded, accents folded
   (`Họ tên` reads `hoten`) and with everything but letters and digits removed, is in
   `personal_fields` (name, phone, national_id, cccd, card_number, email, address, …) or
   ends with one of `personal_suffixes` (`customer_name`, `payer_phone`, `billing_address`,
   …). Contract fields are never dropped by name.
2. `payer` and `holder` become pseudonyms unless they already are one; whatever else they
   hold (a phone number, a name, a number) is never passed through.
3. A field whose *value* holds a raw identifier is dropped — or, for `event_id`, replaced by
   its pseudonym (under a key derived for event ids, so it cannot be matched with payer or
   holder pseudonyms), which keeps `(source, event_id)` deduplication working. With
   spaces, dashes and dots between digits ignored, a value holds an identifier when it
   contains an email address or a digit run (digits in a row, or groups of digits joined by
   single spaces, dashes or dots, of which any consecutive groups are tried) that is
   - a Vietnamese phone number: `0` or `84`/`+84`, then a non-zero digit and 8 more digits
     (mobile), or `2` and 9 more digits (landline) — zero-padded counters are not phones;
   - a 12-digit citizen ID (CCCD): a province code `001`–`096`, then 9 digits;
   - a 13–19-digit card number passing the Luhn check (every real card number does).
   Extra fields (not in contract 1, nobody downstream reads them) are held to a stricter rule:
   any run of 9 or more digits, which also covers old 9-digit ID cards and bank account
   numbers, drops the field; so does an integer of 9 or more digits. The contract's own
   integers (`schema`, `amount_vnd`) are amounts and versions, never inspected.
4. A key that itself looks like an identifier is dropped with its value.

The result holds no raw identifier that these rules can see; what they cannot see (a name
written into a free-text field the source invented) is why producers also drop, rather than
keep, fields they do not know when a source's export is noisy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = [
    "CONTRACT_FIELDS",
    "DEFAULT_PERSONAL_FIELDS",
    "DEFAULT_PERSONAL_SUFFIXES",
    "PSEUDONYM_FIELDS",
    "Pseudonymiser",
    "Scrubber",
    "contains_identifier",
    "derive_key",
    "is_pseudonym",
    "normalise_identifier",
]

DEFAULT_PERSONAL_FIELDS: frozenset[str] = frozenset(
    {
        "name",
        "full_name",
        "fullname",
        "first_name",
        "last_name",
        "given_name",
        "family_name",
        "customer_name",
        "ho_ten",
        "hoten",
        "phone",
        "phone_number",
        "telephone",
        "tel",
        "msisdn",
        "mobile",
        "so_dien_thoai",
        "sdt",
        "national_id",
        "citizen_id",
        "cccd",
        "cmnd",
        "cmt",
        "id_number",
        "id_card",
        "passport",
        "passport_number",
        "tax_code",
        "card_number",
        "card",
        "pan",
        "cvv",
        "account_number",
        "bank_account",
        "iban",
        "email",
        "email_address",
        "address",
        "street_address",
        "home_address",
        "dia_chi",
        "date_of_birth",
        "dob",
        "birth_date",
        "birthday",
    }
)
DEFAULT_PERSONAL_SUFFIXES: tuple[str, ...] = (
    "name",
    "phone",
    "phonenumber",
    "msisdn",
    "mobile",
    "email",
    "address",
    "nationalid",
    "citizenid",
    "idnumber",
    "cardnumber",
    "accountnumber",
    "iban",
    "cccd",
    "cmnd",
    "passport",
    "dateofbirth",
)
PSEUDONYM_FIELDS: frozenset[str] = frozenset({"payer", "holder"})
CONTRACT_FIELDS: frozenset[str] = frozenset(
    {
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
        "type",
        "holder",
    }
)
_CONTRACT_INTEGERS = frozenset({"schema", "amount_vnd"})
# How a field name is treated, decided once per name (names repeat; the cache is bounded).
_DROP, _PSEUDONYMISE, _CONTRACT, _EXTRA = range(4)
_MAX_CACHED_NAMES = 4096

_PSEUDONYM = re.compile(r"[0-9a-f]{64}")
_SEPARATORS = re.compile(r"[\s.\-]+")
_KEY_NOISE = re.compile(r"[^0-9a-z]+")
_PHONE_PREFIX = re.compile(r"(?:\+|00)?84(\d{9,10})")
# Digits joined by single spaces, dashes or dots count as one run: "091 234-5678".
_JOINED_DIGITS = re.compile(r"\d(?:[ .\-]?\d)*")
_LONG_RUN = re.compile(r"\d(?:[ .\-]?\d){8}")
_PHONE = re.compile(r"(?:\+?84|0)(?:[1-9]\d{8}|2\d{9})")
_CITIZEN_ID = re.compile(r"0(?:0[1-9]|[1-8]\d|9[0-6])\d{9}")
_CARD = re.compile(r"\d{13,19}")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]{2,}")


def normalise_identifier(value: str) -> str:
    """The canonical form of an identifier, before it is pseudonymised (see the module doc)."""
    compact = _SEPARATORS.sub("", value).casefold()
    phone = _PHONE_PREFIX.fullmatch(compact)
    if phone is not None:
        return "0" + phone.group(1)
    return compact


def is_pseudonym(value: object) -> bool:
    """True for a keyed pseudonym as contract 1 writes it: 64 lowercase hex characters."""
    return isinstance(value, str) and _PSEUDONYM.fullmatch(value) is not None


def derive_key(key: bytes, purpose: str) -> bytes:
    """A key for another purpose (e.g. hashing rejected raw input), derived from `key`."""
    return hmac.new(key, f"cashless/{purpose}".encode(), hashlib.sha256).digest()


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def contains_identifier(value: str, *, strict: bool = False) -> bool:
    """True when `value` holds a raw phone, citizen ID, card number or email address.

    With `strict`, any run of 9 or more digits counts as well (the rule for extra fields).
    """
    if "@" in value and _EMAIL.search(value):
        return True
    if _LONG_RUN.search(value) is None:
        return False
    if strict:
        return True
    for match in _JOINED_DIGITS.finditer(value):
        plus = match.start() > 0 and value[match.start() - 1] == "+"
        groups = _SEPARATORS.split(match.group())
        # Any consecutive groups may be one number: "2026-11-23 0912 345 678" holds a phone.
        for first in range(len(groups)):
            run = "+" if plus and first == 0 else ""
            for group in groups[first:]:
                run += group
                if _is_identifier(run):
                    return True
    return False


def _is_identifier(run: str) -> bool:
    return bool(
        _PHONE.fullmatch(run) or _CITIZEN_ID.fullmatch(run) or (_CARD.fullmatch(run) and _luhn(run))
    )


class Pseudonymiser:
    """Keyed pseudonyms of identifiers: the same key and identifier give the same pseudonym."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the pseudonymisation key must not be empty")
        self._key = bytes(key)

    def pseudonym(self, value: str) -> str:
        """HMAC-SHA256 (64 lowercase hex characters) of the normalised identifier."""
        normalised = normalise_identifier(value).encode("utf-8", "surrogatepass")
        return hmac.new(self._key, normalised, hashlib.sha256).hexdigest()

    def derived(self, purpose: str) -> Pseudonymiser:
        """A pseudonymiser under a key derived for `purpose`, unlinkable to this one's output."""
        return Pseudonymiser(derive_key(self._key, purpose))

    def __repr__(self) -> str:
        return "Pseudonymiser(key=<hidden>)"


class Scrubber:
    """Removes or pseudonymises personal data in a source record (rules in the module doc)."""

    def __init__(
        self,
        pseudonymiser: Pseudonymiser,
        *,
        personal_fields: Iterable[str] = DEFAULT_PERSONAL_FIELDS,
        personal_suffixes: Iterable[str] = DEFAULT_PERSONAL_SUFFIXES,
    ) -> None:
        self._pseudonymiser = pseudonymiser
        self._event_ids = pseudonymiser.derived("event-id")
        self._fields = frozenset(_field_key(name) for name in personal_fields)
        self._suffixes = tuple(_field_key(suffix) for suffix in personal_suffixes if suffix)
        self._kinds: dict[str, int] = {}

    def is_personal_field(self, name: str) -> bool:
        """True when a field of this name is dropped whatever its value."""
        if name in CONTRACT_FIELDS:
            return False
        key = _field_key(name)
        return key in self._fields or key.endswith(self._suffixes)

    def scrub(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of the record with personal data removed or pseudonymised."""
        return self._scrub_object(obj, top=True)

    def _kind(self, name: str) -> int:
        kind = self._kinds.get(name)
        if kind is None:
            if contains_identifier(name, strict=True):
                kind = _DROP
            elif name in PSEUDONYM_FIELDS:
                kind = _PSEUDONYMISE
            elif self.is_personal_field(name):
                kind = _DROP
            elif name in CONTRACT_FIELDS:
                kind = _CONTRACT
            else:
                kind = _EXTRA
            if len(self._kinds) < _MAX_CACHED_NAMES:
                self._kinds[name] = kind
        return kind

    def _scrub_object(self, obj: dict[str, Any], *, top: bool) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        kinds, long_run = self._kinds, _LONG_RUN.search  # looked up once: this runs per field
        for name, value in obj.items():
            kind = kinds.get(name)
            if kind is None:
                kind = self._kind(name) if isinstance(name, str) else _DROP
            if kind == _DROP:
                continue
            if kind == _PSEUDONYMISE:
                clean[name] = self._pseudonymised(value)
                continue
            contract = top and kind == _CONTRACT
            if isinstance(value, str):
                # Cheap screen first: most values have neither an "@" nor 9 digits.
                if ("@" in value or long_run(value)) and contains_identifier(
                    value, strict=not contract
                ):
                    if contract and name == "event_id":
                        clean[name] = self._event_ids.pseudonym(value)
                    continue
                clean[name] = value
            elif isinstance(value, bool) or value is None or isinstance(value, float):
                clean[name] = value
            elif isinstance(value, int):
                if (contract and name in _CONTRACT_INTEGERS) or abs(value) < 100_000_000:
                    clean[name] = value
            elif isinstance(value, dict):
                clean[name] = self._scrub_object(value, top=False)
            elif isinstance(value, list):
                clean[name] = self._scrub_list(value)
            # Anything else cannot come from JSON or CSV; drop it rather than guess.
        return clean

    def _scrub_list(self, items: list[Any]) -> list[Any]:
        clean: list[Any] = []
        for item in items:
            if isinstance(item, str):
                if not contains_identifier(item, strict=True):
                    clean.append(item)
            elif isinstance(item, bool) or item is None or isinstance(item, float):
                clean.append(item)
            elif isinstance(item, int):
                if abs(item) < 100_000_000:
                    clean.append(item)
            elif isinstance(item, dict):
                clean.append(self._scrub_object(item, top=False))
            elif isinstance(item, list):
                clean.append(self._scrub_list(item))
        return clean

    def _pseudonymised(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            lowered = value.strip().lower()
            if not lowered:
                return None
            if is_pseudonym(lowered):
                return lowered
            return self._pseudonymiser.pseudonym(value)
        # A number, list or object where an identifier belongs: hash its JSON, never keep it.
        return self._pseudonymiser.pseudonym(msgspec.json.encode(value).decode())

    def __repr__(self) -> str:
        return f"Scrubber({self._pseudonymiser!r}, {len(self._fields)} personal fields)"


def _field_key(name: str) -> str:
    # "Họ tên", "ho_ten" and "HoTen" are one name: accents folded, separators and case ignored.
    folded = unicodedata.normalize("NFKD", name.casefold().replace("đ", "d"))
    return _KEY_NOISE.sub("", "".join(c for c in folded if not unicodedata.combining(c)))
