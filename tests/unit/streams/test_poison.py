"""Events that processing fails on: found, set aside as `processing_error`, the rest applied
once, and the numbers equal to the oracle's for the events without them."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cashless.schema import AccountEvent, PaymentEvent
from streams.ledger import PaymentLedger
from streams.poison import (
    PROCESSING_ERROR,
    Excluded,
    PoisonNotFound,
    find_poison,
    process_setting_poison_aside,
)
from tests.ledger_faults import failing_process, inject
from tests.unit.streams.test_pipeline_logic import (
    DECODER,
    Worker,
    arrivals,
    assert_same,
    payment,
    records_in_arrival_order,
    truth_of,
)


class Poisoned:
    """Processing that fails while any of the `poison` events is in: (offset, index) pairs."""

    def __init__(self, poison: set[tuple[int, int]], broken: frozenset[int] = frozenset()) -> None:
        self.poison = poison
        self.broken = broken  # offsets whose record fails whatever is excluded
        self.trials = 0

    def fails(self, records: Sequence[tuple[int, bytes]], excluded: Excluded) -> bool:
        self.trials += 1
        for offset, _ in records:
            if offset in self.broken:
                return True
            out = excluded.get(offset, frozenset())
            if out is None:
                continue
            if any(o == offset and i not in out for o, i in self.poison):
                return True
        return False


RECORDS = [(offset, b"") for offset in range(100, 400)]


def test_one_event_among_hundreds_of_records_is_found_in_a_few_dozen_trials() -> None:
    poisoned = Poisoned({(257, 311)})
    excluded = find_poison(poisoned.fails, RECORDS, lambda value: 500)
    assert excluded == {257: frozenset({311})}
    assert poisoned.trials <= 2 + 9 + 2 + 9, "binary search over records, then over events"


def test_several_events_in_several_records_are_all_found() -> None:
    poison = {(100, 0), (100, 499), (250, 7), (399, 250)}
    excluded = find_poison(Poisoned(poison).fails, RECORDS, lambda value: 500)
    assert excluded == {100: frozenset({0, 499}), 250: frozenset({7}), 399: frozenset({250})}


def test_a_record_that_cannot_be_decoded_is_set_aside_whole() -> None:
    poisoned = Poisoned({(120, 0)})
    assert find_poison(poisoned.fails, RECORDS, lambda value: None) == {120: None}


def test_a_failure_that_is_not_in_the_data_is_raised() -> None:
    with pytest.raises(PoisonNotFound, match="offset 100"):
        find_poison(lambda records, excluded: True, RECORDS, lambda value: 500)
    with pytest.raises(PoisonNotFound, match="offset 130"):
        find_poison(Poisoned(set(), broken=frozenset({130})).fails, RECORDS, lambda value: 5)


def test_a_batch_that_passes_at_the_retry_excludes_nothing() -> None:
    attempts: list[Excluded] = []
    reloads: list[int] = []

    def process(records: Sequence[tuple[int, bytes]], excluded: Excluded) -> str:
        attempts.append(excluded)
        if len(attempts) == 1:
            raise MemoryError("transient")
        return "done"

    result = process_setting_poison_aside(
        process, RECORDS, lambda: reloads.append(1), lambda value: 1, "here"
    )
    assert result == "done"
    assert attempts == [{}, {}]
    assert reloads == [1], "the state is put back before the retry"


@pytest.fixture
def seen_key_fails_for() -> Iterator[set[str]]:
    """Event ids for which the payment ledger raises once it has applied a batch with them."""
    poison: set[str] = set()
    restore = inject(poison)
    yield poison
    restore()


def feed_setting_poison_aside(
    worker: Worker, records: list[tuple[str, int, bytes]], group: int
) -> None:
    """Feed like `run_grouped`, through the retry and poison search, reloading a partition's
    ledger from its store as the worker does."""
    offsets: Counter[tuple[str, int]] = Counter()
    batches: list[tuple[str, int, list[tuple[int, bytes]]]] = []
    for topic, partition, value in records:
        if not batches or batches[-1][:2] != (topic, partition) or len(batches[-1][2]) == group:
            batches.append((topic, partition, []))
        batches[-1][2].append((offsets[topic, partition], value))
        offsets[topic, partition] += 1
    for topic, partition, batch in batches:
        worker.feed_setting_poison_aside(topic, partition, batch)


@settings(
    max_examples=40,
    deadline=None,
    # the fixture's set is filled anew for each example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(arrivals(), st.integers(1, 6), st.integers(1, 5), st.randoms(use_true_random=False))
def test_poisoned_payments_are_rejected_and_everything_else_equals_the_oracle(
    seen_key_fails_for: set[str],
    data: tuple[list[PaymentEvent], list[AccountEvent], list[bytes]],
    per_record: int,
    group: int,
    rng: random.Random,
) -> None:
    payments, accounts, bad = data
    poison = {e.event_id for e in rng.sample(payments, min(len(payments), rng.randint(1, 3)))}
    seen_key_fails_for.clear()
    seen_key_fails_for.update(poison)
    records = records_in_arrival_order(payments, accounts, bad, batch=per_record)
    worker = Worker()
    feed_setting_poison_aside(worker, records, group)

    kept = [e for e in payments if e.event_id not in poison]
    truth = truth_of(kept, accounts, bad)
    poisoned = sum(1 for e in payments if e.event_id in poison)
    previous = truth.get("cashless_events_rejected_total", reason=PROCESSING_ERROR) or 0
    truth.set("cashless_events_rejected_total", previous + poisoned, reason=PROCESSING_ERROR)
    assert_same(worker.values(), truth)
    letters = [r for r in worker.rejections if r[1].reason == PROCESSING_ERROR]
    assert sorted(r[1].event_id or "" for r in letters) == sorted(
        e.event_id for e in payments if e.event_id in poison
    )
    for _, rejection, raw in letters:  # the event alone, as it was accepted, for a replay
        [event] = DECODER.decode_payments(raw).events
        assert event.event_id == rejection.event_id


def test_a_fault_half_way_through_a_batch_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fault strikes while events are being added up: the partial sums are thrown away."""
    events = [payment(i, i, ("utility", "water"), "ba-dinh", "qr") for i in range(40)]
    monkeypatch.setattr(PaymentLedger, "process", failing_process({"e25"}, PaymentLedger.process))
    worker = Worker()
    records = records_in_arrival_order(events, [], [], batch=10)
    feed_setting_poison_aside(worker, records, group=4)
    truth = truth_of([e for e in events if e.event_id != "e25"], [], [])
    truth.set("cashless_events_rejected_total", 1, reason=PROCESSING_ERROR)
    assert_same(worker.values(), truth)
