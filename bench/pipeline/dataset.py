"""The benchmark's dataset: one fixed simulated run, in a file and in Kafka, with its truth."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.metrics import Series, applied_payments, load_truth
from bench.harness.progress import say
from bench.pipeline.context import Bench
from bench.pipeline.plan import END

__all__ = ["Dataset", "load_dataset"]


@dataclass
class Dataset:
    """The simulated run loaded into Kafka once, with its file and ground truth."""

    prefix: str
    file: Path
    districts: Path
    truth: dict[Series, float]
    applied: int
    file_payment_lines: int = 0
    file_account_lines: int = 0
    events: int = 0  # payment events in the topic (valid, duplicate, late or bad), by the census
    records: int = 0
    load_seconds: float = 0.0

    def summary(self, bench: Bench) -> dict[str, Any]:
        """The dataset block of the results: how it was made and what it holds."""
        plan = bench.plan
        return {
            "prefix": self.prefix,
            "seed": plan.seed,
            "days": plan.days,
            "events_per_day": plan.events_per_day,
            "end": END,
            "duplicates": plan.duplicates,
            "late": plan.late,
            "bad_records": plan.bad_records,
            "records": self.records,
            "payment_events": self.events,
            "applied_payments": self.applied,
            "file_payment_lines": self.file_payment_lines,
            "file_account_lines": self.file_account_lines,
            "load_seconds": self.load_seconds,
        }


def load_dataset(bench: Bench) -> Dataset:
    """Simulate the plan's dataset into a file, and the same again into Kafka (timed)."""
    p = bench.plan
    args: list[str] = [
        *("--seed", str(p.seed), "--days", str(p.days)),
        *("--events-per-day", str(p.events_per_day), "--end", END),
        *("--duplicates", str(p.duplicates), "--late", str(p.late)),
        *("--bad-records", str(p.bad_records)),
    ]
    directory = bench.work / "dataset"
    directory.mkdir()
    say(f"simulating the dataset: cashless simulate {' '.join(args)}")
    bench.cashless("simulate", *args, "--out", directory / "run.jsonl")
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    started = time.monotonic()
    bench.cashless("simulate", *args, "--topic-prefix", prefix, "--no-truth")
    load_seconds = time.monotonic() - started
    truth = load_truth(directory / "run.truth.json")
    applied = int(applied_payments(truth))
    dataset = Dataset(
        prefix, directory / "run.jsonl", directory / "run.districts.csv", truth, applied
    )
    dataset.load_seconds = load_seconds
    with dataset.file.open("rb") as lines:
        for line in lines:
            if b'"holder"' in line:
                dataset.file_account_lines += 1
            else:
                dataset.file_payment_lines += 1
    say(
        f"dataset in Kafka under {prefix} in {load_seconds:.1f} s: "
        f"{dataset.file_payment_lines:,} payment lines "
        f"({applied:,} applied in the ground truth), {dataset.file_account_lines:,} accounts"
    )
    return dataset
