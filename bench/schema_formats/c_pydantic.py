"""Option (c): a pydantic v2 BaseModel (frozen, strict, Field constraints), and the two naive
variants for the rejection matrix (schema as Literal[1], strict and not)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from bench.schema_formats.contract import AMOUNT_MAX, Channel, Method

__all__ = ["PdEvent", "pd_decode", "pd_encode", "pd_lax_decode", "pd_literal_decode"]

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
    channel: Channel
    segment: PdSlug
    district: PdSlug
    method: Method
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
