"""Validating a push's items: anonymise each, decode it against contract 1, and check that it
comes from the token's own source and names its payer or holder by an identifier.

Pure: no I/O, the clock injected. A request is all or nothing, so the answer is either every
item's event or the errors of the items that are wrong, by their index in the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from cashless.anonymise import Anonymiser
from cashless.schema import Event, EventDecoder
from cashless.taxonomy import Taxonomy
from producers.gateway.metrics import Kind
from producers.gateway.responses import ItemError

__all__ = ["ItemValidator"]

_encoder = msgspec.json.Encoder()


class ItemValidator:
    """Anonymises and decodes the items of one push; see the module doc."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        anonymiser: Anonymiser,
        *,
        max_body_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._anonymiser = anonymiser
        # Pseudonyms are longer than the identifiers they replace: the body limit is the real one.
        self._decoder = EventDecoder(
            taxonomy, clock=clock, max_record_bytes=4 * max_body_bytes + 1_048_576
        )

    def validate(
        self, kind: Kind, items: Sequence[Any], source: str
    ) -> tuple[list[Event], list[ItemError]]:
        """Anonymise and decode every item: the accepted events, or the errors by item index."""
        scrubbed = [self._anonymiser.anonymise(i) if isinstance(i, dict) else i for i in items]
        raw = _encoder.encode(scrubbed)
        decode = (
            self._decoder.decode_payments if kind == "payments" else self._decoder.decode_accounts
        )
        result = decode(raw)
        errors: list[ItemError] = []
        rejected: set[int] = set()
        for rejection in result.rejections:
            if rejection.index is None:  # the whole array: cannot happen below the body limit
                return [], [
                    ItemError(i, rejection.reason, rejection.detail) for i in range(len(items))
                ]
            rejected.add(rejection.index)
            errors.append(ItemError(rejection.index, rejection.reason, rejection.detail))
        indices = [i for i in range(len(items)) if i not in rejected]
        if len(indices) != len(result.events):
            raise RuntimeError("the decoder accepted events that cannot be matched to items")
        for index, event in zip(indices, result.events, strict=True):
            if event.source != source:
                detail = f"source {event.source!r} is not the token's source {source!r}"
                errors.append(ItemError(index, "source_mismatch", detail))
        # The scrubber pseudonymises any value of these fields; only identifiers are taken.
        field = "payer" if kind == "payments" else "holder"
        mistyped = {
            i
            for i, item in enumerate(items)
            if isinstance(item, dict) and not _is_identifier(item.get(field))
        }
        if mistyped:
            detail = f"`{field}` must be a string or an integer (an identifier or a pseudonym)"
            errors = [e for e in errors if e.index not in mistyped]
            errors += [ItemError(i, f"invalid_field:{field}", detail) for i in mistyped]
        errors.sort(key=lambda e: e.index)
        return list(result.events), errors


def _is_identifier(value: Any) -> bool:
    return value is None or isinstance(value, str) or type(value) is int
