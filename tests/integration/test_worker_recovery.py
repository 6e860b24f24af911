"""A worker that meets an event it cannot process, or a local store of another Kafka, keeps
going: real Kafka, real `cashless worker` processes, /metrics against the ground truth.

- One event trips a bug (a fault injected for its id): the worker sets it aside to the DLQ as
  `processing_error`, counts it, logs where it was, and every other number equals the truth.
- The worker's state directory was built from another Kafka cluster: the worker discards it with
  one warning, rebuilds from the new cluster's changelogs and exports the new cluster's numbers.
"""

from __future__ import annotations

import base64
import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from kafka import KafkaConsumer

from cashless.privacy import is_pseudonym
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.taxonomy import load_taxonomy
from ops.stack.ports import free_port
from producers.ground_truth import expected_metrics
from tests.conftest import RunningStack, stack_settings, started_stack, wait_for
from tests.integration.test_worker_e2e import (
    Dataset,
    Series,
    WorkerProcess,
    make_dataset,
    wait_equal,
)

pytestmark = pytest.mark.integration

REJECTED = "cashless_events_rejected_total"


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop(signal.SIGKILL)


def sent_events(directory: Path) -> tuple[list[PaymentEvent], list[AccountEvent]]:
    """The valid events of a simulated run, in the order they were sent."""
    taxonomy = load_taxonomy(directory / "run.districts.csv")
    decoder = EventDecoder(taxonomy, clock=lambda: datetime.now(UTC).timestamp())
    payments: list[PaymentEvent] = []
    accounts: list[AccountEvent] = []
    for line in (directory / "run.jsonl").read_bytes().splitlines():
        for event in decoder.decode_mixed(line).events:
            (payments if isinstance(event, PaymentEvent) else accounts).append(event)
    return payments, accounts


def truth_without(
    directory: Path, dataset: Dataset, poison: str
) -> tuple[dict[Series, float], PaymentEvent]:
    """The truth of the run with the payment `poison` rejected as a processing error, after
    checking that the run's own truth is rebuilt from its events."""
    payments, accounts = sent_events(directory)
    taxonomy = load_taxonomy(directory / "run.districts.csv")
    rejected = {
        dict(labels)["reason"]: int(value)
        for (name, labels), value in dataset.truth.items()
        if name == REJECTED
    }
    rebuilt = expected_metrics(payments, accounts, taxonomy, rejected=rejected).values
    assert rebuilt == dataset.truth, "the run's truth is rebuilt from the events it sent"
    [poisoned] = [e for e in payments if e.event_id == poison]
    kept = [e for e in payments if e.event_id != poison]
    rejected["processing_error"] = 1
    return expected_metrics(kept, accounts, taxonomy, rejected=rejected).values, poisoned


def a_payment_applied_once(directory: Path) -> str:
    """The id of a payment sent once, in the run's last day: applied, neither late nor a
    duplicate, so that the worker's fault is met."""
    payments, _ = sent_events(directory)
    sent = Counter((e.source, e.event_id) for e in payments)
    last = max(e.occurred_at for e in payments).timestamp()
    candidates = [
        e.event_id
        for e in payments
        if sent[e.source, e.event_id] == 1 and e.occurred_at.timestamp() > last - 86_400
    ]
    return candidates[len(candidates) // 2]


def dead_letters(stack: RunningStack, prefix: str) -> list[dict[str, object]]:
    consumer = KafkaConsumer(
        f"{prefix}payments.dlq",
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        return [json.loads(message.value) for message in consumer]
    finally:
        consumer.close()


def test_a_poisoned_event_goes_to_the_dlq_and_the_worker_goes_on(
    running_stack: RunningStack, workers: list[WorkerProcess], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    dataset = make_dataset(running_stack, data, days=3, per_day=1500)
    poison = a_payment_applied_once(data)
    truth, poisoned = truth_without(data, dataset, poison)
    worker = WorkerProcess(
        running_stack,
        dataset,
        f"poison-{uuid.uuid4().hex[:6]}",
        tmp_path / "state",
        launcher=("-m", "tests.poisoned_worker", poison),
    )
    workers.append(worker)

    wait_equal([worker], truth, timeout=240)
    assert worker.process.poll() is None, "the worker keeps running"

    letters = [
        d for d in dead_letters(running_stack, dataset.prefix) if d.get("event_id") == poison
    ]
    assert len(letters) == 1, letters
    [letter] = letters
    assert letter["reason"] == "processing_error"
    assert letter["origin"] == "worker"
    location = letter["location"]
    assert isinstance(location, dict)
    assert location["topic"] == f"{dataset.prefix}payments.events"
    kept = msgspec.json.decode(base64.b64decode(str(letter["payload_b64"])))
    assert msgspec.convert(kept, PaymentEvent, strict=False) == poisoned, "ready to replay"
    assert kept.get("payer") is None or is_pseudonym(kept["payer"])
    log = worker.log.read_text()
    where = f"{dataset.prefix}payments.events[{location['partition']}]"
    assert f"processing_error: {where}" in log
    assert f"offset {location['offset']}" in log
    assert "injected fault" in log, "the error itself is logged"


def test_a_store_of_another_kafka_is_rebuilt_from_the_new_one(
    running_stack: RunningStack,
    workers: list[WorkerProcess],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prefix = f"moved{uuid.uuid4().hex[:6]}."
    app_id = f"moved-{uuid.uuid4().hex[:6]}"
    state, port = tmp_path / "state", free_port()
    before = make_dataset(running_stack, tmp_path / "a", days=3, per_day=1500, prefix=prefix)
    first = WorkerProcess(running_stack, before, app_id, state, port=port)
    workers.append(first)
    wait_equal([first], before.truth, timeout=240)
    first.stop()

    with started_stack(stack_settings(tmp_path_factory.mktemp("other-kafka"))) as other:
        # the same topics and app on a new cluster, with less in them than the store holds
        after = make_dataset(other, tmp_path / "b", days=1, per_day=600, prefix=prefix, seed=5)
        assert after.truth != before.truth
        again = WorkerProcess(other, after, app_id, state, port=port)
        workers.append(again)
        wait_equal([again], after.truth, timeout=240)
        log = again.log.read_text()
        assert log.count("does not belong to this Kafka") == 1, log[-3000:]
        wait_for(lambda: again.process.poll() is None, timeout=1, what="the worker to run")
        again.stop()
