"""Consumer lag: per input partition this worker owns, the records between its position and the
partition's end, exported as `cashless_consumer_lag_records{topic, partition}` at each scrape.

Operational, not part of the adoption figures: the ground truth says nothing about it, and it
reads the live consumer (Prometheus' `instance` label tells the workers apart).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.faust_seam import consumer_position

__all__ = ["LAG_METRIC", "ConsumerLag"]

LAG_METRIC = "cashless_consumer_lag_records"


class ConsumerLag(Collector):
    """A collector of the lag of the consumer that `consumer` returns (None while it has none)."""

    def __init__(
        self,
        consumer: Callable[[], Any],
        topics: Collection[str],
        registry: CollectorRegistry,
    ) -> None:
        self._consumer = consumer
        self._topics = topics
        registry.register(self)

    def describe(self) -> list[Metric]:
        """No fixed description: the partitions come and go with rebalances."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One series per owned input partition whose end is known."""
        family = GaugeMetricFamily(
            LAG_METRIC,
            "Kafka records of an input partition this worker owns that it has not read yet.",
            labels=["topic", "partition"],
        )
        consumer = self._consumer()
        if consumer is not None:
            for tp in sorted(consumer.assignment(), key=lambda tp: (tp.topic, tp.partition)):
                if tp.topic not in self._topics:
                    continue
                end = consumer.highwater(tp)
                if end is None or end < 0:  # not fetched yet
                    continue
                # nothing read or committed yet: everything up to the end is still to be read
                position = consumer_position(consumer, tp) or 0
                family.add_metric([tp.topic, str(tp.partition)], max(0, end - position))
        yield family
