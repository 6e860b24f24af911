"""The JSON bodies the gateway answers pushes with, as structs: the handlers encode them and the
OpenAPI document derives their schemas from them, so the two cannot drift apart."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["Accepted", "ErrorBody", "ItemError"]

_REASONS = (
    "missing_field:<f>, invalid_field:<f>, not_an_object, unsupported_schema, unknown_channel, "
    "unknown_method, unknown_type, unknown_segment, unknown_district, future_timestamp or "
    "source_mismatch."
)


class ItemError(msgspec.Struct, frozen=True):
    """Why one item of a request was refused: its index in the batch, a reason code, a detail."""

    index: Annotated[int, msgspec.Meta(ge=0)]
    reason: Annotated[str, msgspec.Meta(description=_REASONS)]
    detail: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Why a request was refused; `errors` lists the invalid items of a 422."""

    error: Annotated[str, msgspec.Meta(description="A machine-readable error code.")]
    message: str
    # UNSET, not None: the field is left out of the body (and is no `null` in the schema).
    errors: list[ItemError] | msgspec.UnsetType = msgspec.UNSET


class Accepted(msgspec.Struct, frozen=True):
    """A push Kafka acknowledged in full."""

    accepted: Annotated[int, msgspec.Meta(ge=1, description="Events now in Kafka.")]
    records: Annotated[int, msgspec.Meta(ge=1, description="Kafka records written.")]
