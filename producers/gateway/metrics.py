"""The gateway's own Prometheus metrics, in one container built against an injected registry."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["KINDS", "GatewayMetrics", "Kind"]

Kind = Literal["payments", "accounts"]
KINDS: tuple[Kind, ...] = ("payments", "accounts")


class GatewayMetrics:
    """The gateway's Prometheus metrics, created against the registry the caller passes in.

    Every label value comes from a bounded set: routes, the status codes the gateway answers
    with, the two event kinds, and reason families (`missing_field`, not `missing_field:x`).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "cashless_gateway_requests",
            "HTTP requests answered, by route and status code.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "cashless_gateway_request_duration_seconds",
            "Time to answer a request, by route.",
            ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.events_accepted = Counter(
            "cashless_gateway_events_accepted",
            "Events acknowledged by Kafka, by kind.",
            ["kind"],
            registry=registry,
        )
        self.records_sent = Counter(
            "cashless_gateway_records_sent",
            "Kafka records acknowledged, by kind.",
            ["kind"],
            registry=registry,
        )
        self.items_rejected = Counter(
            "cashless_gateway_items_rejected",
            "Invalid items refused with 422, by kind and reason family.",
            ["kind", "reason"],
            registry=registry,
        )
        self.events_unavailable = Counter(
            "cashless_gateway_events_unavailable",
            "Valid events refused with 503 because Kafka did not take them, by kind.",
            ["kind"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "cashless_gateway_rate_limited",
            "Requests refused with 429 because their token exceeded its rate, by kind.",
            ["kind"],
            registry=registry,
        )
        self.kafka_ready = Gauge(
            "cashless_gateway_kafka_ready",
            "1 while Kafka answers the gateway's producer, else 0.",
            registry=registry,
        )
        for kind in KINDS:
            self.events_accepted.labels(kind)
            self.records_sent.labels(kind)
            self.events_unavailable.labels(kind)
            self.rate_limited.labels(kind)
        self.kafka_ready.set(0)
