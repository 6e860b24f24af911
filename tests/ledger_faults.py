"""A fault injected into the payment ledger: processing a batch that holds one of the given
events (not set aside) raises, after the batch has changed the ledger's state half-way."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from streams.ledger import BatchOutcome, PaymentLedger
from streams.poison import Excluded, split_excluded

Process = Callable[..., BatchOutcome]


def failing_process(event_ids: Collection[str], original: Process) -> Process:
    """`PaymentLedger.process` that raises once it has applied a batch with any of `event_ids`
    among its accepted events that `excluded` does not set aside."""

    def process(
        self: PaymentLedger,
        partition: int,
        records: Sequence[tuple[int, bytes]],
        excluded: Excluded | None = None,
    ) -> BatchOutcome:
        outcome = original(self, partition, records, excluded)
        decode = self.decoder.decode_payments
        for offset, value in records:
            events, _ = split_excluded(offset, value, decode, excluded or {})
            hit = [e.event_id for _, e in events if e.event_id in event_ids]
            if hit:
                raise RuntimeError(f"injected fault: event {hit[0]}")
        return outcome

    return process


def inject(event_ids: Collection[str]) -> Callable[[], None]:
    """Make every payment ledger fail on `event_ids`; the function that takes the fault away."""
    original: Any = PaymentLedger.process
    PaymentLedger.process = failing_process(event_ids, original)  # type: ignore[method-assign]

    def restore() -> None:
        PaymentLedger.process = original  # type: ignore[method-assign]

    return restore
