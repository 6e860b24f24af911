"""Where a run finds the checkout: its root (the processes' working directory) and jar cache."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CACHE", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cashless" / "cache"  # the Kafka jars of `make install`
