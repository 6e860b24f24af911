"""What every contender process of `make bench` reports, and how it measures itself.

A contender reads the benchmark topic from the beginning under a new consumer group and, when it
has seen every event (or its time cap has passed), writes one JSON object to its result file and
exits at once: wall-clock times of its first record and of the end, the events it counted, and
its own CPU seconds and peak RSS from `getrusage` (all threads; the same figures as /proc's
utime+stime and VmHWM).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from cashless.schema import EventDecoder
from cashless.settings import TaxonomySettings

__all__ = ["Tally", "taxonomy_decoder"]


def taxonomy_decoder() -> EventDecoder:
    """The project's event decoder against the taxonomy of the environment (the dataset's)."""
    return EventDecoder(TaxonomySettings().load())


class Tally:
    """Counts events and decides when a run is over: `expect` events seen, or `cap` seconds
    passed since the first record (0 = no limit)."""

    def __init__(self, result: Path, expect: int, cap: float) -> None:
        self.result = result
        self.expect = expect
        self.cap = cap
        self.first: float | None = None
        self.events = 0
        self.records = 0
        self.rejected = 0

    def received(self) -> None:
        """Call when a record arrives, before processing it."""
        if self.first is None:
            self.first = time.time()

    def processed(self, events: int, rejected: int = 0) -> bool:
        """Call after processing one record holding `events` events; True when the run is over."""
        self.records += 1
        self.events += events
        self.rejected += rejected
        if self.expect and self.events >= self.expect:
            return True
        return bool(self.cap) and self.first is not None and time.time() - self.first >= self.cap

    def finish(self, **extra: object) -> None:
        """Write the result file and end the process now (no slow shutdown to wait for)."""
        done = time.time()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        first = self.first if self.first is not None else done
        report = {
            "first": first,
            "done": done,
            "events": self.events,
            "records": self.records,
            "rejected": self.rejected,
            "capped": bool(self.expect) and self.events < self.expect,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "rss_peak_mb": usage.ru_maxrss / 1024,
            **extra,
        }
        partial = self.result.with_suffix(".tmp")
        partial.write_text(json.dumps(report))
        partial.rename(self.result)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
