"""Event schema v1 (contract 1): typed immutable events, strict decoding, reasoned rejections.

Decoding is strict at the boundary and fast on the common path: a Kafka record (one JSON object
or a JSON array of objects) is decoded straight into frozen `msgspec` structs whose constraints
are the contract's rules. Only when that fails is the record decoded generically, item by item,
so that one bad event in a batch is rejected alone and each rejection names its reason:

    bad_utf8, bad_json, oversize, not_an_object, missing_field:<field>, invalid_field:<field>,
    unsupported_schema, unknown_channel, unknown_method, unknown_type, unknown_segment,
    unknown_district, future_timestamp

Rules that depend on data (the taxonomy) or on time (the clock-skew allowance) are checked after
the structural ones, in that order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

from cashless.taxonomy import Taxonomy

__all__ = [
    "AccountEvent",
    "DecodeResult",
    "Event",
    "EventDecoder",
    "PaymentEvent",
    "Rejection",
    "encode",
    "encode_batch",
    "field_of",
]

SCHEMA_VERSION = 1
DEFAULT_MAX_RECORD_BYTES = 1_048_576
DEFAULT_CLOCK_SKEW_SECONDS = 300.0

EventId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}\Z")]
SourceSlug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9-]{1,64}\Z")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
EventTime = Annotated[datetime, msgspec.Meta(tz=True)]
Pseudonym = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}\Z")]
Amount = Annotated[int, msgspec.Meta(ge=1, le=10**12)]
Channel = Literal["utility", "market", "street"]
Method = Literal["cash", "card", "bank_transfer", "qr", "e_wallet", "direct_debit", "mobile_money"]


class PaymentEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One payment at a utility, market or street, as it travels on `payments.events`."""

    schema: Literal[1]
    event_id: EventId
    occurred_at: EventTime
    source: SourceSlug
    channel: Channel
    segment: Name
    district: Name
    method: Method
    amount_vnd: Amount
    payer: Pseudonym | None = None

    @property
    def key(self) -> str:
        """The Kafka record key, `channel:segment`."""
        return f"{self.channel}:{self.segment}"


class AccountEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An e-payment account opened or closed, as it travels on `payments.accounts`."""

    schema: Literal[1]
    event_id: EventId
    occurred_at: EventTime
    source: SourceSlug
    type: Literal["opened", "closed"]
    holder: Pseudonym
    district: Name

    @property
    def key(self) -> str:
        """The Kafka record key, the holder's pseudonym."""
        return self.holder


Event: TypeAlias = PaymentEvent | AccountEvent


class Rejection(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Why one event (or a whole unparseable record) was refused.

    `index` is the event's position in a batch record (None for a single object or for a record
    that could not be parsed at all); `source` and `event_id` are kept when they were readable,
    so that a rejection can be counted per source and traced back.
    """

    reason: str
    detail: str
    index: int | None = None
    source: str | None = None
    event_id: str | None = None


class DecodeResult(msgspec.Struct, frozen=True):
    """The accepted events of one record, in order, and the rejections."""

    events: list[Any]
    rejections: list[Rejection]


_ENUM_FIELDS = {
    "schema": "unsupported_schema",
    "channel": "unknown_channel",
    "method": "unknown_method",
    "type": "unknown_type",
}
_MISSING = re.compile(r"missing required field `([^`]+)`")
_AT_FIELD = re.compile(r"at `\$(?:\[\d+\])?\.([A-Za-z_]+)")
_SOURCE = re.compile(r"[a-z0-9-]{1,64}")
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_encoder = msgspec.json.Encoder()


def encode(event: Event) -> bytes:
    """Serialise one event to its canonical JSON bytes (an absent `payer` is omitted)."""
    return _encoder.encode(event)


def encode_batch(events: Sequence[Event]) -> bytes:
    """Serialise events sharing one record key as a JSON array."""
    return _encoder.encode(events)


class EventDecoder:
    """Decodes Kafka record values into validated events against a taxonomy and a clock."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        clock: Callable[[], float] = time.time,
        clock_skew_seconds: float = DEFAULT_CLOCK_SKEW_SECONDS,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self._taxonomy = taxonomy
        self._districts = frozenset(taxonomy.districts)
        self._clock = clock
        self._skew = clock_skew_seconds
        self._max_bytes = max_record_bytes
        self._payments = msgspec.json.Decoder(PaymentEvent | list[PaymentEvent])
        self._accounts = msgspec.json.Decoder(AccountEvent | list[AccountEvent])

    @property
    def taxonomy(self) -> Taxonomy:
        """The taxonomy events are checked against."""
        return self._taxonomy

    @property
    def max_record_bytes(self) -> int:
        """The largest record accepted, in bytes."""
        return self._max_bytes

    def latest_allowed(self) -> float:
        """The latest event time accepted now: the clock plus the skew allowance."""
        return self._clock() + self._skew

    def decode_payments(self, raw: bytes) -> DecodeResult:
        """Decode a `payments.events` record: one payment event or an array of them."""
        return self._decode(raw, self._payments, lambda item: PaymentEvent)

    def decode_accounts(self, raw: bytes) -> DecodeResult:
        """Decode a `payments.accounts` record: one account event or an array of them."""
        return self._decode(raw, self._accounts, lambda item: AccountEvent)

    def decode_mixed(self, raw: bytes) -> DecodeResult:
        """Decode input mixing both kinds: an object with a `holder` field is an account event."""
        return self._decode(raw, None, _kind_of)

    def check(self, event: Event) -> str | None:
        """Why a typed event breaks a taxonomy or time rule, or None when it is valid."""
        if isinstance(event, PaymentEvent) and not self._taxonomy.has_segment(
            event.channel, event.segment
        ):
            return "unknown_segment"
        if event.district not in self._districts:
            return "unknown_district"
        if event.occurred_at.timestamp() > self.latest_allowed():
            return "future_timestamp"
        return None

    def _decode(
        self,
        raw: bytes,
        fast: msgspec.json.Decoder[Any] | None,
        kind: Callable[[dict[str, Any]], type[Event]],
    ) -> DecodeResult:
        if len(raw) > self._max_bytes:
            return _unparseable("oversize", f"{len(raw)} bytes > limit {self._max_bytes}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _unparseable("bad_utf8", str(exc))
        if fast is not None:
            try:
                decoded = fast.decode(text)
            except (msgspec.DecodeError, RecursionError):
                pass
            else:
                if isinstance(decoded, list):
                    return self._checked(enumerate(decoded))
                return self._checked([(None, decoded)])
        try:
            generic = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            return _unparseable("bad_json", str(exc))
        except RecursionError:
            # msgspec parses nested values recursively: without this, one deeply nested record
            # (`[[[[…`, ~1000 levels) would raise out of every consumer that decodes it.
            return _unparseable("bad_json", "arrays or objects nested too deeply")
        return self._converted(generic, kind)

    def decode_parsed(self, parsed: Any) -> DecodeResult:
        """Validate mixed input already parsed from JSON or CSV: an object or a list of them.

        The same rules as `decode_mixed`, without the round trip through JSON bytes.
        """
        return self._converted(parsed, _kind_of)

    def decode_payment_items(
        self, items: Sequence[tuple[int, str | bytes]]
    ) -> tuple[list[tuple[int, PaymentEvent]], list[Rejection]] | None:
        """Some items of a `payments.events` record that is a JSON array, given as (position,
        the item's JSON text), as `decode_payments` decides them: the accepted events by
        position, and the rejections (their `index` the position), in the order
        `decode_payments` gives them. None when an item is not JSON (then the record is decided
        as a whole)."""
        parsed: list[tuple[int | None, Any]] = []
        for at, text in items:
            try:
                parsed.append((at, msgspec.json.decode(text)))
            except (msgspec.DecodeError, RecursionError):
                return None
        accepted, rejections = self._validated(parsed, lambda item: PaymentEvent)
        events = [(at, e) for at, e in accepted if at is not None and isinstance(e, PaymentEvent)]
        return events, rejections

    def _converted(
        self, generic: Any, kind: Callable[[dict[str, Any]], type[Event]]
    ) -> DecodeResult:
        items = enumerate(generic) if isinstance(generic, list) else [(None, generic)]
        accepted, rejections = self._validated(items, kind)
        return DecodeResult([event for _, event in accepted], rejections)

    def _validated(
        self,
        items: Iterable[tuple[int | None, Any]],
        kind: Callable[[dict[str, Any]], type[Event]],
    ) -> tuple[list[tuple[int | None, Event]], list[Rejection]]:
        """The events of parsed items by position, and the rejections: the structural ones,
        then those of the taxonomy and time rules."""
        events: list[tuple[int | None, Event]] = []
        rejections: list[Rejection] = []
        for at, item in items:
            if not isinstance(item, dict):
                detail = f"expected a JSON object, got {type(item).__name__}"
                rejections.append(Rejection(reason="not_an_object", detail=detail, index=at))
                continue
            try:
                events.append((at, msgspec.convert(item, kind(item))))
            except msgspec.ValidationError as exc:
                rejections.append(_rejection(_reason_of(exc), str(exc), at, item))
        accepted, refused = self._checked_at(events)
        return accepted, rejections + refused

    def _checked(self, events: Iterable[tuple[int | None, Event]]) -> DecodeResult:
        accepted, rejections = self._checked_at(events)
        return DecodeResult([event for _, event in accepted], rejections)

    def _checked_at(
        self, events: Iterable[tuple[int | None, Event]]
    ) -> tuple[list[tuple[int | None, Event]], list[Rejection]]:
        accepted: list[tuple[int | None, Event]] = []
        rejections: list[Rejection] = []
        for at, event in events:
            reason = self.check(event)
            if reason is None:
                accepted.append((at, event))
            else:
                rejections.append(
                    Rejection(
                        reason=reason,
                        detail=_detail_of(reason, event),
                        index=at,
                        source=event.source,
                        event_id=event.event_id,
                    )
                )
        return accepted, rejections


def _kind_of(item: dict[str, Any]) -> type[Event]:
    return AccountEvent if "holder" in item else PaymentEvent


_FIELD_OF_REASON = {
    **{reason: name for name, reason in _ENUM_FIELDS.items()},
    "unknown_segment": "segment",
    "unknown_district": "district",
    "future_timestamp": "occurred_at",
}


def field_of(reason: str) -> str | None:
    """The event field a rejection reason is about (`invalid_field:amount_vnd` → `amount_vnd`,
    `unknown_method` → `method`), None for a reason about the whole record."""
    kind, _, name = reason.partition(":")
    if kind in ("missing_field", "invalid_field") and name:
        return name
    return _FIELD_OF_REASON.get(reason)


def _reason_of(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    missing = _MISSING.search(message)
    if missing:
        return f"missing_field:{missing.group(1)}"
    at = _AT_FIELD.search(message)
    if at is None:
        return "not_an_object"
    field = at.group(1)
    return _ENUM_FIELDS.get(field, f"invalid_field:{field}")


def _detail_of(reason: str, event: Event) -> str:
    if reason == "unknown_segment" and isinstance(event, PaymentEvent):
        return f"segment {event.segment!r} is not in the taxonomy for channel {event.channel!r}"
    if reason == "unknown_district":
        return f"district {event.district!r} is not in the taxonomy"
    return f"occurred_at {event.occurred_at.isoformat()} is in the future"


def _readable(item: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = item.get(name)
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _rejection(reason: str, detail: str, index: int | None, item: dict[str, Any]) -> Rejection:
    return Rejection(
        reason=reason,
        detail=detail,
        index=index,
        source=_readable(item, "source", _SOURCE),
        event_id=_readable(item, "event_id", _EVENT_ID),
    )


def _unparseable(reason: str, detail: str) -> DecodeResult:
    return DecodeResult([], [Rejection(reason=reason, detail=detail)])
