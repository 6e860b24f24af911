"""`python -m tests.poisoned_worker EVENT_ID [cashless args…]`: the `cashless` command, with a
fault injected into the payment ledger for one event id: adding that event up always raises."""

from __future__ import annotations

import sys
from typing import Any

import streams.ledger
from cli.main import main


def _poison(event_id: str) -> None:
    original = streams.ledger._Batch.apply

    def apply(self: Any, segment: Any, position: int, event: Any, t: float) -> None:
        if event.event_id == event_id:
            raise RuntimeError(f"injected fault: event {event_id}")
        original(self, segment, position, event, t)

    streams.ledger._Batch.apply = apply  # type: ignore[method-assign]


if __name__ == "__main__":
    _poison(sys.argv.pop(1))
    main()
