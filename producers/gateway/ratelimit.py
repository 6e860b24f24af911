"""Per-token request rate limits of the HTTP gateway: one token bucket for each bearer token.

A bucket holds at most `burst` requests and refills at `rate` requests per second; a request
takes one, and a request that finds the bucket empty is refused with the time until one is
back (the gateway answers 429 with that as `Retry-After`). Buckets are keyed by token id, so
their number is bounded by the tokens issued, and a source with several tokens has a budget
for each. Time comes from an injected monotonic clock, so tests control it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from producers.token_bucket import TokenBucket

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets of `rate` requests/s and `burst` capacity, one per key; rate 0 = no limit."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate < 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate >= 0 and burst >= 1, not {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        """False when the rate is 0: every request passes."""
        return self.rate > 0

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 when allowed, else the seconds to wait."""
        if not self.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            # A new token starts with a full bucket: its first burst passes.
            bucket = self._buckets[key] = TokenBucket(
                self.rate, self.burst, self._clock, tokens=self.burst
            )
        return bucket.take_one()
