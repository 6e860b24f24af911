"""The ground truth of a simulated run: what a worker fed its emissions must export (contract 2).

The numbers come from the reference oracle, `producers.ground_truth`; this module classifies a
run's bad records as a worker's decoder would and writes the truth as stable JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from cashless.metrics import MetricValues
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.taxonomy import Taxonomy
from producers.ground_truth import expected_metrics
from producers.simulate.faults import Emission

__all__ = ["ground_truth", "truth_json"]


def ground_truth(
    emissions: Iterable[Emission],
    taxonomy: Taxonomy,
    *,
    now: float,
    min_cell: int = 10,
) -> MetricValues:
    """What a worker fed these emissions in this order must export (`producers.ground_truth`).

    Bad records are classified as a worker's `EventDecoder` would at wall time `now` (on the
    payments topic), and counted per reason. `taxonomy` should carry the simulated (scaled)
    population, so that coverage ratios are those of the synthetic city.
    """
    decoder = EventDecoder(taxonomy, clock=lambda: now)
    payments: list[PaymentEvent] = []
    accounts: list[AccountEvent] = []
    rejected: Counter[str] = Counter()
    for item in emissions:
        if isinstance(item, PaymentEvent):
            payments.append(item)
        elif isinstance(item, AccountEvent):
            accounts.append(item)
        else:
            rejected.update(r.reason for r in decoder.decode_payments(item.raw).rejections)
    return expected_metrics(
        payments, accounts, taxonomy, min_cell=min_cell, rejected=dict(sorted(rejected.items()))
    )


def truth_json(truth: MetricValues) -> bytes:
    """The truth as a JSON list of `{"name", "labels", "value"}`, one per line, in stable order."""
    rows = [
        msgspec.json.encode({"name": name, "labels": dict(labels), "value": value})
        for (name, labels), value in sorted(truth.values.items())
    ]
    return b"[\n" + b",\n".join(rows) + b"\n]\n"
