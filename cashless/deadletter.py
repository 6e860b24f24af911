"""The record written to `payments.dlq` for each rejected event or unparseable input.

A rejected event that could be parsed is kept, scrubbed of personal fields, as base64 JSON so it
can be fixed and replayed. Input that could not be parsed at all is kept only as its length and a
keyed hash: it may hold anything, and a raw identifier must never reach Kafka in any encoding.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import msgspec

from cashless.schema import Rejection

__all__ = ["DeadLetter", "dead_letter"]


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One DLQ record: why, from where, and what can safely be kept of the input."""

    reason: str
    detail: str
    origin: str
    rejected_at: str
    source: str | None = None
    event_id: str | None = None
    index: int | None = None
    location: dict[str, Any] = msgspec.field(default_factory=dict)
    payload_b64: str | None = None
    raw_length: int = 0
    raw_hmac: str | None = None

    def encode(self) -> bytes:
        """The record value as JSON bytes."""
        return msgspec.json.encode(self)


def dead_letter(
    rejection: Rejection,
    *,
    origin: str,
    raw: bytes,
    hash_key: bytes,
    scrubbed: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> DeadLetter:
    """Build the DLQ record of one rejection.

    `scrubbed` is the rejected event as a JSON object with personal fields already removed or
    pseudonymised, or None when the input could not be parsed; `raw` is the original input, of
    which only the length and an HMAC under `hash_key` are kept.
    """
    payload = None
    if scrubbed is not None:
        payload = base64.b64encode(msgspec.json.encode(scrubbed)).decode("ascii")
    return DeadLetter(
        reason=rejection.reason,
        detail=rejection.detail,
        origin=origin,
        rejected_at=(now or datetime.now(UTC)).isoformat(),
        source=rejection.source,
        event_id=rejection.event_id,
        index=rejection.index,
        location=location or {},
        payload_b64=payload,
        raw_length=len(raw),
        raw_hmac=hmac.new(hash_key, raw, hashlib.sha256).hexdigest(),
    )
