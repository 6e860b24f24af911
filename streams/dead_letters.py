"""The dead letters a worker writes: one `payments.dlq` record per rejected event or record.

What is kept follows contract 1: a rejected event that parses is kept scrubbed of personal
fields (`cashless.privacy.Scrubber`), anything else only as its length and a keyed hash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

import msgspec

from cashless.deadletter import dead_letter
from cashless.privacy import Scrubber
from cashless.schema import Rejection

__all__ = ["DeadLetters"]


class DeadLetters:
    """Sends a batch's rejections to the DLQ topic, each with where its input was read."""

    def __init__(self, topic: Any, scrubber: Scrubber, hash_key: bytes) -> None:
        self._topic = topic
        self._scrubber = scrubber
        self._hash_key = hash_key

    async def send(
        self, source: str, partition: int, rejections: Sequence[tuple[int, Rejection, bytes]]
    ) -> list[Awaitable[Any]]:
        """Hand the rejections `(offset, rejection, input)` of one partition of topic `source`
        to the producer; the returned futures complete once Kafka acknowledged each."""
        sent: list[Awaitable[Any]] = []
        for offset, rejection, raw in rejections:
            letter = dead_letter(
                rejection,
                origin="worker",
                raw=raw,
                hash_key=self._hash_key,
                scrubbed=self.scrubbed_item(raw, rejection.index),
                location={"topic": source, "partition": partition, "offset": offset},
            )
            sent.append(
                await self._topic.send(
                    key=rejection.reason.encode(), value=letter.encode(), force=True
                )
            )
        return sent

    def scrubbed_item(self, raw: bytes, index: int | None) -> dict[str, Any] | None:
        """The rejected item of `raw` (the `index`th of an array), scrubbed; None when it does
        not parse as a JSON object."""
        try:
            parsed = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
        item = parsed[index] if isinstance(parsed, list) and index is not None else parsed
        return self._scrubber.scrub(item) if isinstance(item, dict) else None
