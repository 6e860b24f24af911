"""The command line every contender takes: where to read, how long, where to write its result."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["contender_parser"]


def contender_parser(description: str | None, *, windowed: bool = True) -> argparse.ArgumentParser:
    """The options of a contender process; `windowed` adds the window and the run's bounds
    (the ceiling reads to the end offsets it finds instead)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic-prefix", required=True)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--result", type=Path, required=True)
    if windowed:
        parser.add_argument("--window-minutes", type=int, default=60)
        parser.add_argument("--step-minutes", type=int, default=1)
        parser.add_argument("--expect", type=int, required=True, help="events in the topic")
        parser.add_argument("--cap", type=float, default=0, help="stop after this many seconds")
    return parser
