"""The producers' one token bucket (simulator pacing, gateway rate limits), on a fake clock."""

from __future__ import annotations

import pytest

from producers.token_bucket import TokenBucket
from tests.unit.test_gateway_ratelimit import Clock


def test_an_empty_bucket_fills_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, 5, clock)
    assert bucket.take() == 0
    assert bucket.wait(5) == pytest.approx(0.5)
    assert bucket.wait(50) == pytest.approx(0.5), "a wait is capped at the burst"
    clock.now += 0.35
    assert bucket.take() == 3
    clock.now += 100
    assert bucket.take() == 5
    assert bucket.wait() == pytest.approx(0.1)


def test_take_one_refuses_without_taking() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 2, clock, tokens=2)
    assert [bucket.take_one() for _ in range(2)] == [0.0, 0.0]
    for _ in range(10):
        assert bucket.take_one() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.take_one() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take_one() == 0.0


def test_float_error_does_not_cost_a_token() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, 1, clock)
    clock.now += 0.05
    assert bucket.take_one() > 0
    clock.now += 0.05  # 0.1 s at 10/s is a whole token, whatever the rounding
    assert bucket.take_one() == 0.0


def test_a_clock_stepping_back_refills_nothing_and_drains_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 3, clock, tokens=2)
    clock.now -= 10
    assert bucket.take() == 2
    clock.now += 1
    assert bucket.take() == 1


def test_bad_rates_and_bursts_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(0, 1, Clock())
    with pytest.raises(ValueError, match="burst at least 1"):
        TokenBucket(1, 0.5, Clock())
