"""The metrics of contract 2: computed from the worker's state, exported to Prometheus.

`current_values` is the pure computation (a `cashless.metrics.MetricValues`, the shape the
reference oracle gives too, so tests compare the two directly). `MetricsCollector` turns it into
Prometheus families at each scrape, registered on a registry the caller passes in; nothing is
created at import time and no series outlives the state it came from, so a worker that loses a
partition in a rebalance stops exporting that partition's segments at once.

Segment series come from the partitions this worker owns. City-wide series (district and city
shares, coverage, pipeline counters, stream time) come from the global view and are exported by
one worker only: the owner of partition 0 of `payments.events`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cashless.eventtime import WINDOWS, daily_trend, local_day
from cashless.metrics import METRICS, MetricValues, cap_sources
from cashless.taxonomy import Taxonomy
from streams.ledger import PaymentLedger
from streams.summary import GlobalView

__all__ = ["ExportSettings", "MetricsCollector", "current_values"]


@dataclass(frozen=True)
class ExportSettings:
    """What the exported numbers depend on besides the events."""

    taxonomy: Taxonomy
    min_cell: int = 10
    noncash_goal: float = 0.5
    accounts_goal: float = 0.5
    max_sources: int = 200


def current_values(
    settings: ExportSettings,
    payments: PaymentLedger,
    owned: Iterable[int],
    view: GlobalView,
    exports_city: bool,
) -> MetricValues:
    """Every series this worker exports now, with its value."""
    values = MetricValues()
    end = view.end
    stream_time = view.stream_time
    for partition in owned:
        for channel, segment, totals, windows, days in payments.segments(
            partition, None if stream_time is None else end
        ):
            for method, (count, amount) in totals.items():
                labels = {"channel": channel, "segment": segment, "method": method}
                values.set("cashless_payments_total", count, **labels)
                values.set("cashless_payments_amount_vnd_total", amount, **labels)
            if windows is None or stream_time is None:
                continue
            for window, (n, noncash, amount_all, amount_noncash) in windows.items():
                if n >= settings.min_cell:
                    labels = {"channel": channel, "segment": segment, "window": window}
                    values.set("cashless_noncash_ratio", noncash / n, **labels)
                    values.set(
                        "cashless_noncash_value_ratio", amount_noncash / amount_all, **labels
                    )
            slope = daily_trend(days, local_day(stream_time), settings.min_cell)
            if slope is not None:
                values.set(
                    "cashless_adoption_trend_per_day", slope, channel=channel, segment=segment
                )
    if exports_city:
        _city(values, settings, view)
    return values


def _city(values: MetricValues, settings: ExportSettings, view: GlobalView) -> None:
    city = {w: [0, 0] for w in WINDOWS}
    for district, windows in view.district_windows().items():
        for window, (n, noncash) in windows.items():
            city[window][0] += n
            city[window][1] += noncash
            if n >= settings.min_cell:
                values.set(
                    "cashless_district_noncash_ratio", noncash / n, district=district, window=window
                )
    for window, (n, noncash) in city.items():
        if n >= settings.min_cell:
            values.set("cashless_city_noncash_ratio", noncash / n, window=window)
    if view.stream_time is not None:
        _district_trends(values, settings, view.district_days(), local_day(view.stream_time))
    holders = view.holders()
    districts = settings.taxonomy.districts
    for district, count in holders.items():
        if count >= settings.min_cell and district in districts:
            values.set("cashless_epayment_account_holders", count, district=district)
            ratio = count / districts[district].population
            values.set("cashless_epayment_account_ratio", ratio, district=district)
    covered = sum(holders.values())
    if covered >= settings.min_cell:
        values.set("cashless_city_epayment_account_ratio", covered / settings.taxonomy.population)
    for reason, count in view.rejected().items():
        values.set("cashless_events_rejected_total", count, reason=reason)
    values.set("cashless_events_duplicate_total", view.duplicates())
    values.set("cashless_events_late_total", view.late())
    for source, t in cap_sources(view.newest(), settings.max_sources).items():
        values.set("cashless_last_event_timestamp_seconds", t, source=source)
    if view.stream_time is not None:
        values.set("cashless_stream_time_seconds", view.stream_time)
    values.set("cashless_goal_ratio", settings.noncash_goal, goal="noncash")
    values.set("cashless_goal_ratio", settings.accounts_goal, goal="epayment_accounts")


def _district_trends(
    values: MetricValues,
    settings: ExportSettings,
    district_days: dict[str, dict[int, list[int]]],
    today: int,
) -> None:
    city: dict[int, list[int]] = {}
    for district, days in district_days.items():
        slope = daily_trend(days, today, settings.min_cell)
        if slope is not None:
            values.set("cashless_district_adoption_trend_per_day", slope, district=district)
        for day, (n, noncash) in days.items():
            total = city.setdefault(day, [0, 0])
            total[0] += n
            total[1] += noncash
    slope = daily_trend(city, today, settings.min_cell)
    if slope is not None:
        values.set("cashless_city_adoption_trend_per_day", slope)


class MetricsCollector(Collector):
    """A Prometheus collector that reads the worker's numbers at each scrape."""

    def __init__(self, values: Callable[[], MetricValues], registry: CollectorRegistry) -> None:
        self._values = values
        registry.register(self)

    def describe(self) -> list[Metric]:
        """No fixed description: the series depend on the state at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One family per metric name of contract 2, with the series present now."""
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for name, (kind, documentation, labels) in METRICS.items():
            if kind == "counter":
                families[name] = CounterMetricFamily(
                    name.removesuffix("_total"), documentation, labels=labels
                )
            else:
                families[name] = GaugeMetricFamily(name, documentation, labels=labels)
        for (name, label_items), value in sorted(self._values().values.items()):
            label_names = METRICS[name][2]
            by_name = dict(label_items)
            families[name].add_metric([by_name[label] for label in label_names], value)
        yield from families.values()
