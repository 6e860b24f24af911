"""The gateway's per-token token buckets, on a fake monotonic clock."""

from __future__ import annotations

import pytest

from producers.gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_holds() -> None:
    clock = Clock()
    limiter = RateLimiter(10, 5, clock=clock)
    assert [limiter.acquire("a") for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("a") == pytest.approx(0.1)
    clock.now += 0.05
    assert limiter.acquire("a") == pytest.approx(0.05), "half a request refilled"
    clock.now += 0.05
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    clock.now += 3600
    assert [limiter.acquire("a") for _ in range(6)] == [0.0] * 5 + [pytest.approx(0.1)]


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 1, clock=clock)
    assert limiter.acquire("a") == 0.0
    for _ in range(100):  # a client hammering while limited does not push its wait further
        assert limiter.acquire("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.acquire("a") == 0.0


def test_every_key_has_its_own_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(1, 2, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]
    assert [limiter.acquire("b") for _ in range(2)] == [0.0, 0.0]


def test_the_sustained_rate_is_the_configured_one() -> None:
    clock = Clock()
    limiter = RateLimiter(40, 80, clock=clock)
    allowed = 0
    for _ in range(100_000):  # 100 s of a client trying 1000 requests/s
        clock.now += 0.001
        allowed += limiter.acquire("a") == 0.0
    assert 40 * 100 <= allowed <= 40 * 100 + 80


def test_rate_zero_is_no_limit_and_bad_values_are_refused() -> None:
    limiter = RateLimiter(0, 1, clock=Clock())
    assert not limiter.enabled
    assert all(limiter.acquire("a") == 0.0 for _ in range(10_000))
    with pytest.raises(ValueError, match="rate >= 0"):
        RateLimiter(-1, 1)
    with pytest.raises(ValueError, match="burst >= 1"):
        RateLimiter(1, 0)
