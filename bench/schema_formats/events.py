"""The timed input: distinct, valid payment events with varied offsets, fractions and extras."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import orjson

from bench.schema_formats.contract import AMOUNT_MAX, CHANNELS, METHODS, SEED

__all__ = ["make_events"]

OFFSETS = [("+07:00", 70), ("Z", 10), ("+00:00", 5), ("-05:00", 5), ("+05:30", 5), ("+05:45", 5)]


def make_events(n: int, seed: int = SEED) -> list[bytes]:
    rng = random.Random(seed)
    offs = [o for o, w in OFFSETS for _ in range(w)]
    sources = [f"evn-{c}" for c in ("hanoi", "hcmc", "danang", "haiphong", "cantho")] + [
        "sawaco",
        "hawaco",
        "cho-ben-thanh",
        "cho-dong-xuan",
        "vinmart-12",
    ]
    segments = [
        "electricity",
        "water",
        "gas",
        "internet",
        "produce",
        "seafood",
        "street-food",
        "parking",
    ]
    districts = [
        "hoan-kiem",
        "ba-dinh",
        "dong-da",
        "hai-ba-trung",
        "cau-giay",
        "quan-1",
        "quan-3",
        "binh-thanh",
        "thu-duc",
        "son-tra",
    ]
    base = datetime(2026, 1, 1)
    out = []
    for i in range(n):
        wall = base + timedelta(seconds=rng.randrange(365 * 86400))
        ts = wall.strftime("%Y-%m-%dT%H:%M:%S")
        r = rng.random()
        if r < 0.10:
            ts += f".{rng.randrange(1000):03d}"
        elif r < 0.15:
            ts += f".{rng.randrange(1_000_000):06d}"
        ts += rng.choice(offs)
        ev: dict[str, Any] = {
            "schema": 1,
            "event_id": f"evt-{i:06d}" if rng.random() < 0.9 else f"src:{rng.randrange(10**9)}.{i}",
            "occurred_at": ts,
            "source": rng.choice(sources),
            "channel": rng.choice(CHANNELS),
            "segment": rng.choice(segments),
            "district": rng.choice(districts),
            "method": rng.choice(METHODS),
            "amount_vnd": rng.choice(
                (rng.randrange(1_000, 5_000_000, 500), rng.randrange(1, AMOUNT_MAX + 1))
            ),
        }
        if rng.random() < 0.8:
            ev["payer"] = f"{rng.getrandbits(256):064x}"
        if rng.random() < 0.1:
            ev["note"] = "thanh toán tiền điện"  # extra field, non-ASCII
            ev["trace"] = {"hop": rng.randrange(5)}
        out.append(orjson.dumps(ev))
    return out
