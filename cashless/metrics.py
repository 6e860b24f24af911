"""The metric contract (contract 2): every exported name, its type, help and label names, and
`MetricValues`, the shape in which the workers and the reference oracle both give their numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["METRICS", "MetricValues", "Series", "cap_sources"]

# name -> (type, help, label names)
METRICS: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    "cashless_noncash_ratio": (
        "gauge",
        "Share of payments by count that were non-cash, per segment and rolling window.",
        ("channel", "segment", "window"),
    ),
    "cashless_noncash_value_ratio": (
        "gauge",
        "Share of payment value (VND) that was non-cash, per segment and rolling window.",
        ("channel", "segment", "window"),
    ),
    "cashless_district_noncash_ratio": (
        "gauge",
        "Share of payments by count that were non-cash, per district over all channels.",
        ("district", "window"),
    ),
    "cashless_city_noncash_ratio": (
        "gauge",
        "Share of payments by count that were non-cash, whole city.",
        ("window",),
    ),
    "cashless_epayment_account_holders": (
        "gauge",
        "People holding at least one open e-payment account, per district of residence.",
        ("district",),
    ),
    "cashless_epayment_account_ratio": (
        "gauge",
        "E-payment account holders as a share of the district's population.",
        ("district",),
    ),
    "cashless_city_epayment_account_ratio": (
        "gauge",
        "E-payment account holders as a share of the city's population.",
        (),
    ),
    "cashless_goal_ratio": ("gauge", "The adoption targets.", ("goal",)),
    "cashless_adoption_trend_per_day": (
        "gauge",
        "Least-squares slope of the daily non-cash count share over the last 30 complete days.",
        ("channel", "segment"),
    ),
    "cashless_district_adoption_trend_per_day": (
        "gauge",
        "Least-squares slope of the district's daily non-cash count share (all channels) over "
        "the last 30 complete days.",
        ("district",),
    ),
    "cashless_city_adoption_trend_per_day": (
        "gauge",
        "Least-squares slope of the city's daily non-cash count share over the last 30 complete "
        "days.",
        (),
    ),
    "cashless_payments_total": (
        "counter",
        "Payment events accepted and applied.",
        ("channel", "segment", "method"),
    ),
    "cashless_payments_amount_vnd_total": (
        "counter",
        "Amount of the payment events accepted and applied, in VND.",
        ("channel", "segment", "method"),
    ),
    "cashless_events_rejected_total": (
        "counter",
        "Events rejected to the dead-letter topic.",
        ("reason",),
    ),
    "cashless_events_duplicate_total": (
        "counter",
        "Payment events dropped as duplicates of an applied (source, event_id).",
        (),
    ),
    "cashless_events_late_total": (
        "counter",
        "Payment events dropped as older than the 30-day window.",
        (),
    ),
    "cashless_last_event_timestamp_seconds": (
        "gauge",
        "Event time of the newest event per source.",
        ("source",),
    ),
    "cashless_stream_time_seconds": (
        "gauge",
        "Stream time: the latest event time of an applied payment event.",
        (),
    ),
}

Series = tuple[str, tuple[tuple[str, str], ...]]


def _series(name: str, **labels: str) -> Series:
    return name, tuple(sorted(labels.items()))


@dataclass
class MetricValues:
    """Metric values by series: what a worker exports, or what it must export."""

    values: dict[Series, float] = field(default_factory=dict)

    def get(self, name: str, **labels: str) -> float | None:
        """The value of one series, or None when it is absent."""
        return self.values.get(_series(name, **labels))

    def set(self, name: str, value: float, **labels: str) -> None:
        """Record the value of one series."""
        self.values[_series(name, **labels)] = value


def cap_sources(newest: Mapping[str, float], max_sources: int) -> dict[str, float]:
    """Newest event time per source label: the first `max_sources` sources by name keep their
    own label, the rest share `other` (so label cardinality stays bounded)."""
    capped: dict[str, float] = {}
    for rank, source in enumerate(sorted(newest)):
        label = source if rank < max_sources else "other"
        capped[label] = max(capped.get(label, newest[source]), newest[source])
    return capped
