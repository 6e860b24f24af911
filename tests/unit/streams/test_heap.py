"""Freed heap memory goes back to the system: the worker's RSS falls after a large backlog."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

_BACKLOG = textwrap.dedent(
    """
    from streams.heap import release_free_memory

    def rss_mb():
        line = next(l for l in open("/proc/self/status") if l.startswith("VmRSS"))
        return int(line.split()[1]) // 1024

    blocks = [bytearray(2000) for _ in range(50_000)]  # 100 MB of malloc'd buffers
    kept = blocks[::50]  # a few stay alive all over the heap, as in a worker
    del blocks
    before = rss_mb()
    released = release_free_memory()
    print(before, rss_mb(), released)
    """
)


def test_memory_freed_inside_the_heap_is_returned_to_the_system() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _BACKLOG], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    before, after, released = int(out[0]), int(out[1]), out[2]
    assert released == "True"
    assert before - after >= 60, f"RSS {before} -> {after} MB"
