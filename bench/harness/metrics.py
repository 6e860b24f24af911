"""A worker's /metrics as a run reads it, and the ground truth it is compared with."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cashless.metrics import METRICS

__all__ = [
    "Series",
    "applied_payments",
    "differences",
    "load_truth",
    "payments_by_segment",
    "samples",
    "scrape",
]

Series = tuple[str, tuple[tuple[str, str], ...]]

_PAYMENTS = re.compile(r"^cashless_payments_total\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def scrape(client: httpx.Client, port: int) -> str | None:
    try:
        response = client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def payments_by_segment(text: str) -> dict[str, float]:
    """`cashless_payments_total` summed over methods, per `channel:segment` (a record key)."""
    totals: dict[str, float] = defaultdict(float)
    for labels, value in _PAYMENTS.findall(text):
        named = dict(_LABEL.findall(labels))
        totals[f"{named.get('channel')}:{named.get('segment')}"] += float(value)
    return totals


def samples(text: str) -> dict[Series, float]:
    found: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in METRICS:  # the contract's series (not the consumer lag)
                found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def differences(actual: dict[Series, float], truth: dict[Series, float]) -> int:
    """How many series of the ground truth are missing or wrong, plus those that are extra."""
    wrong = sum(1 for s, v in truth.items() if s not in actual or abs(actual[s] - v) > 1e-9)
    return wrong + sum(1 for s in actual if s not in truth)


def load_truth(path: Path) -> dict[Series, float]:
    """The ground truth file `cashless simulate` writes, as series."""
    return {
        (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
        for item in json.loads(path.read_text())
    }


def applied_payments(truth: dict[Series, float]) -> float:
    """The payments the ground truth applies: `cashless_payments_total` summed."""
    return sum(v for (name, _), v in truth.items() if name == "cashless_payments_total")
