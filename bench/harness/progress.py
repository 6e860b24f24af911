"""Progress lines on stdout, stamped with the seconds since the run started."""

from __future__ import annotations

import time

__all__ = ["say"]

_started = time.monotonic()


def say(message: str) -> None:
    """Progress on stdout, with the time since the start."""
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", flush=True)
