"""The pace of a simulated run: compressed history as fast as it goes, or live at a rate.

Live mode stamps events with the present and is paced by the producers' token bucket
(`producers.token_bucket`): every tick it emits the payments the bucket allows. Time (a
monotonic clock, the wall clock and sleep) is injected, so tests can run it without waiting.
This module also reads the options that say when a run ends, how fast and how long it goes.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import datetime

from cashless.errors import ConfigError
from producers.simulate.calibration import HANOI
from producers.simulate.model import Simulator
from producers.simulate.outputs import Output, Tally
from producers.token_bucket import TokenBucket

__all__ = [
    "live_start",
    "parse_end",
    "parse_rate",
    "run_history",
    "run_live",
]

_LIVE_SILENT_AFTER = 600.0  # without a duration, a silent source stops after ten minutes
_LIVE_TICK = 0.1  # seconds of events per live batch

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}

# Told how far the run got: (days done, events written).
Advance = Callable[[int, int], None]


def parse_rate(text: str) -> float:
    """Events per second from `200`, `200/s`, `12000/m` or `36000/h`."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"rate {text!r} is not like 200/s, 12000/m or 36000/h")
    return float(match.group(1)) / _PER_SECOND[match.group(2)]


def parse_end(text: str | None, now: float) -> datetime:
    """The end of a history: ISO 8601 (no offset = Hanoi time), or `now` to the minute."""
    if text is None:
        return datetime.fromtimestamp(math.floor(now / 60) * 60, HANOI)
    try:
        end = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--end {text!r} is not an ISO 8601 date-time") from None
    return end.replace(tzinfo=HANOI) if end.tzinfo is None else end


def live_start(wall: float, duration: float | None) -> tuple[datetime, datetime]:
    """A live run's start (the `end` of its curves: now, to the second) and when its silent
    sources stop: halfway through `duration`, or ten minutes in without one."""
    end = datetime.fromtimestamp(math.floor(wall), HANOI)
    after = duration / 2 if duration is not None else _LIVE_SILENT_AFTER
    return end, datetime.fromtimestamp(end.timestamp() + after, HANOI)


def run_history(
    simulator: Simulator,
    output: Output,
    tally: Tally,
    advance: Advance,
    *,
    stop: Callable[[], bool],
) -> None:
    """Write the compressed history, one day at a time, until done or `stop()`."""
    for chunk in simulator.history():
        output.write(chunk)
        tally.add(chunk)
        advance(1, len(chunk))
        if stop():
            break


def run_live(
    simulator: Simulator,
    output: Output,
    tally: Tally,
    rate: float,
    duration: float | None,
    advance: Advance,
    *,
    stop: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Emit at `rate` payments a second with event time = now, until `duration` has passed."""
    start = clock()
    previous = simulator.end
    chunk = simulator.backfill(previous)
    output.write(chunk)
    tally.add(chunk)
    advance(0, len(chunk))
    bucket = TokenBucket(rate, max(1.0, rate * _LIVE_TICK), clock)
    while (duration is None or clock() - start < duration) and not stop():
        sleep(bucket.wait(rate * _LIVE_TICK))
        count = bucket.take()
        now = max(previous, math.floor(wall()))
        chunk = simulator.interval(previous, now, count, live=True)
        previous = now
        if chunk:
            output.write(chunk)
            tally.add(chunk)
            advance(0, len(chunk))
