"""The token bucket, the one pacing rule of the producers: the simulator's live rate and the
gateway's per-token request limit.

A bucket refills at `rate` tokens a second up to `burst` held. Time comes from an injected
monotonic clock, so tests control it and nothing has to sleep to find out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["TokenBucket"]

# Float error must not cost a token: 0.05 s + 0.05 s at 10/s is a whole one.
_EPSILON = 1e-9


class TokenBucket:
    """`rate` tokens a second, at most `burst` held, `tokens` at the start (default none)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        tokens: float = 0.0,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = min(float(burst), tokens)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps back (it should not) refills nothing rather than draining.
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._at = now

    def take(self) -> int:
        """Take every whole token available now (0 when none)."""
        self._refill()
        whole = int(self._tokens)
        self._tokens -= whole
        return whole

    def take_one(self) -> float:
        """Take one token: 0.0 when there was one, else the seconds until there is one.

        A refusal takes nothing, so a caller that keeps asking does not push its wait further.
        """
        self._refill()
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def wait(self, tokens: float = 1.0) -> float:
        """Seconds until `tokens` tokens (capped at the burst) are available."""
        self._refill()
        return max(0.0, (min(tokens, self.burst) - self._tokens) / self.rate)
