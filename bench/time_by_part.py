"""Where a profiled worker spent its time: py-spy's raw (collapsed) stacks summed by part.

    .venv/bin/python -m bench.time_by_part FILE

A sample goes to the part of the innermost frame that belongs to one (so the time spent in
msgspec or RocksDB, native code py-spy does not see into, goes to the project's frame that called
it); samples with no such frame are "other".
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["PARTS", "where_time_goes"]

# (part, the source files it is made of), by path prefix as py-spy prints them
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("local store (RocksDB reads and writes)", ("streams/local_store.py",)),
    (
        "payment ledger: the kernel (decoding, dedup, late rule, windows) and its Python face",
        ("streams/ledger.py",),
    ),
    (
        "decoding and validation in Python (records the kernel defers)",
        ("cashless/schema.py", "msgspec/"),
    ),
    ("coverage and account ledger", ("streams/coverage.py",)),
    ("metrics (/metrics gauges)", ("streams/metrics.py", "prometheus_client/")),
    ("summaries", ("streams/summary.py",)),
    (
        "worker (batches, changelog sends, offsets)",
        ("streams/worker.py", "streams/batches.py", "streams/faust_seam.py"),
    ),
    ("Faust and mode", ("faust/", "mode/")),
    ("aiokafka (fetch, produce, protocol)", ("aiokafka/", "kafka/")),
    ("event loop: select (waiting for I/O)", ("selectors.py",)),
    ("event loop: asyncio", ("asyncio/",)),
)
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")


def _part(file: str) -> str | None:
    for part, prefixes in PARTS:
        if file.startswith(prefixes):
            return part
    return None


def where_time_goes(raw: Path, top: int = 3) -> dict[str, Any]:
    """The share of samples of each part, with its `top` functions by samples."""
    parts: Counter[str] = Counter()
    functions: dict[str, Counter[str]] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        found, function = "other", ""
        for frame in reversed(stack.split(";")):
            match = _FRAME.match(frame)
            part = None if match is None else _part(match["file"])
            if part is not None and match is not None:
                found, function = part, f"{match['function']} ({match['file']})"
                break
        parts[found] += samples
        if function:
            functions.setdefault(found, Counter())[function] += samples
    return {
        "samples": total,
        "parts": [
            {
                "part": part,
                "share": samples / total,
                "top": [
                    {"function": name, "share": n / total}
                    for name, n in functions.get(part, Counter()).most_common(top)
                ],
            }
            for part, samples in parts.most_common()
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    args = parser.parse_args()
    print(json.dumps(where_time_goes(args.raw), indent=2))


if __name__ == "__main__":
    main()
