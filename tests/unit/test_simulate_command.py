"""`cashless simulate` into Kafka stops at the first records Kafka did not take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cashless.errors import CashlessError
from cashless.schema import PaymentEvent
from cashless.topics import Topics
from producers.kafka_sink import SinkStats
from producers.simulate.faults import Emission
from producers.simulate.outputs import KafkaOutput


class _FakeSink:
    """Records what is sent; `fail_after` sends, the producer reports failed deliveries."""

    def __init__(self, fail_after: int) -> None:
        self.topics = Topics("")
        self.stats = SinkStats()
        self.sent: list[tuple[str, int]] = []
        self._fail_after = fail_after

    def send_payments(self, key: str, events: list[PaymentEvent]) -> None:
        self.sent.append((key, len(events)))
        if len(self.sent) > self._fail_after:
            self.stats.failed += 1

    def send_accounts(self, key: str, events: list[Any]) -> None:
        raise AssertionError("no account events in this test")


def _payments(n: int) -> list[Emission]:
    return [
        PaymentEvent(
            schema=1,
            event_id=f"e-{i}",
            occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
            source="hawaco",
            channel="utility",
            segment="water",
            district="dong-da",
            method="qr",
            amount_vnd=1000,
        )
        for i in range(n)
    ]


def test_write_goes_on_while_kafka_takes_the_records() -> None:
    sink = _FakeSink(fail_after=10)
    output = KafkaOutput(sink, batch=5)  # type: ignore[arg-type]
    output.write(_payments(20))
    assert sink.sent == [("utility:water", 5)] * 4


def test_write_raises_once_a_record_failed_to_deliver() -> None:
    sink = _FakeSink(fail_after=1)
    output = KafkaOutput(sink, batch=5)  # type: ignore[arg-type]
    with pytest.raises(CashlessError, match="failed to deliver; stopping the simulation"):
        output.write(_payments(10))
    with pytest.raises(CashlessError):
        output.write(_payments(1))  # and never carries on afterwards
