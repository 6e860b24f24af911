"""The worker's logic (ledgers, summaries, metric values) against the contract's oracle.

No broker: records are fed to the ledgers in arrival order, as the agents would, and the values
the worker would export are compared with `producers.ground_truth.expected_metrics` to 1e-9.
A crash is
simulated by keeping only part of the changelog and replaying from an earlier committed offset.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cashless.metrics import MetricValues
from cashless.schema import (
    AccountEvent,
    EventDecoder,
    PaymentEvent,
    Rejection,
    encode,
    encode_batch,
)
from cashless.taxonomy import load_taxonomy
from producers.ground_truth import expected_metrics
from streams.coverage import AccountLedger
from streams.ledger import BatchOutcome, PaymentLedger
from streams.metrics import ExportSettings, current_values
from streams.poison import Excluded, Records, process_setting_poison_aside
from streams.summary import GlobalView, summarise_accounts, summarise_payments

TAXONOMY = load_taxonomy()
DECODER = EventDecoder(TAXONOMY, clock=lambda: datetime(2030, 1, 1, tzinfo=UTC).timestamp())
PARTITIONS = 3
START = datetime(2026, 9, 1, tzinfo=UTC)
SEGMENTS = [
    ("utility", "electricity"),
    ("utility", "water"),
    ("market", "dong-xuan"),
    ("street", "hang-dao"),
]
DISTRICTS = ["hoan-kiem", "ba-dinh", "soc-son"]
METHODS = ["cash", "qr", "card", "e_wallet"]


class DictStore:
    """A table's local store as a dict (keys carry their partition), as the ledgers read it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, _partition: int, key: bytes) -> bytes | None:
        return self.data.get(key)

    def get_many(self, _partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.data.get(key) for key in keys]

    def scan(self, _partition: int, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def apply(self, writes: Mapping[bytes, bytes | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value


@dataclass
class Worker:
    """The ledgers and the global view of one simulated worker, with its changelog."""

    view: GlobalView = field(default_factory=GlobalView)
    changelog: list[tuple[str, list[tuple[bytes, bytes | None]]]] = field(default_factory=list)
    rejections: list[tuple[int, Rejection, bytes]] = field(default_factory=list)
    # The tables' local stores, which the ledgers read through.
    stores: dict[str, DictStore] = field(
        default_factory=lambda: {"payments": DictStore(), "accounts": DictStore()}
    )

    def __post_init__(self) -> None:
        self.payments = PaymentLedger(DECODER, self.stores["payments"])
        self.accounts = AccountLedger(DECODER, self.stores["accounts"].get)

    def feed(self, topic: str, partition: int, records: list[tuple[int, bytes]]) -> BatchOutcome:
        return self._stored(topic, self._process(topic, partition)(records, {}))

    def feed_setting_poison_aside(
        self, topic: str, partition: int, records: list[tuple[int, bytes]]
    ) -> BatchOutcome:
        """Feed as the worker's `BatchApplier` does: retried once, then the events processing
        fails on set aside, the ledger reloaded from the store after every failed attempt."""
        ledger = self.payments if topic == "payments" else self.accounts
        decode = DECODER.decode_payments if topic == "payments" else DECODER.decode_accounts

        def reload() -> None:
            ledger.drop(partition)
            mine = str(partition).encode()
            for key, value in sorted(self.stores[topic].data.items()):
                if key.split(b"|")[1] == mine and not key.startswith(b"e|"):
                    self.stores[topic].apply(ledger.restore(key, value))

        outcome = process_setting_poison_aside(
            self._process(topic, partition),
            records,
            reload,
            lambda value: len(decode(value).events),
            f"{topic}[{partition}]",
        )
        return self._stored(topic, outcome)

    def _process(self, topic: str, partition: int) -> Callable[[Records, Excluded], BatchOutcome]:
        if topic == "payments":
            return lambda records, excluded: self.payments.process(partition, records, excluded)
        return lambda records, excluded: self.accounts.process(partition, records, excluded)

    def _stored(self, topic: str, outcome: BatchOutcome) -> BatchOutcome:
        # the worker stores a batch locally once Kafka holds its changelog writes
        self.stores[topic].apply({**outcome.writes, **outcome.local})
        self.changelog.append((topic, list(outcome.writes.items())))
        self.rejections += outcome.rejections
        self.publish()
        return outcome

    def recover(self, topic: str, items: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Rebuild a ledger from recovered table items, as the worker's reload does: Faust
        has written them to the local store, then each is restored and its index written."""
        items = list(items)
        store = self.stores[topic]
        store.apply(dict(items))
        ledger = self.payments if topic == "payments" else self.accounts
        for key, value in items:
            store.apply(ledger.restore(key, value))

    def publish(self) -> None:
        for p in list(self.payments.partitions):
            self.view.update(summarise_payments(self.payments, p, None))
        end = self.view.end
        for p in list(self.payments.partitions):
            self.view.update(summarise_payments(self.payments, p, end))
        for p in list(self.accounts.partitions):
            self.view.update(summarise_accounts(self.accounts, p))

    def values(self) -> MetricValues:
        return current_values(
            ExportSettings(TAXONOMY), self.payments, self.payments.partitions, self.view, True
        )


def assert_same(actual: MetricValues, expected: MetricValues) -> None:
    missing = set(expected.values) - set(actual.values)
    extra = set(actual.values) - set(expected.values)
    assert not missing, f"missing series: {sorted(missing)[:5]}"
    assert not extra, f"unexpected series: {sorted(extra)[:5]}"
    for series, value in expected.values.items():
        assert actual.values[series] == pytest.approx(value, abs=1e-9), series


def payment(
    i: int, minutes: int, segment: tuple[str, str], district: str, method: str
) -> PaymentEvent:
    return PaymentEvent(
        schema=1,
        event_id=f"e{i}",
        occurred_at=START + timedelta(minutes=minutes),
        source=f"src-{segment[1]}",
        channel=segment[0],  # type: ignore[arg-type]
        segment=segment[1],
        district=district,
        method=method,  # type: ignore[arg-type]
        amount_vnd=1000 + 37 * i,
    )


def account(
    i: int, minutes: int, holder: int, source: str, opened: bool, district: str
) -> AccountEvent:
    return AccountEvent(
        schema=1,
        event_id=f"a{i}",
        occurred_at=START + timedelta(minutes=minutes),
        source=source,
        type="opened" if opened else "closed",
        holder=f"{holder:064x}",
        district=district,
    )


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[PaymentEvent], list[AccountEvent], list[bytes]]:
    """Payments (with re-sends, late and out-of-order ones), accounts, and some bad records."""
    n = draw(st.integers(20, 160))
    rng = random.Random(draw(st.integers(0, 2**32)))
    span = draw(st.sampled_from([90, 3 * 1440, 40 * 1440]))
    payments: list[PaymentEvent] = []
    clock = 0
    for i in range(n):
        clock += rng.randint(0, max(1, span // n))
        jitter = rng.choice([0, 0, 0, -rng.randint(0, 120), -rng.randint(0, 45 * 1440)])
        event = payment(
            i, clock + jitter, rng.choice(SEGMENTS), rng.choice(DISTRICTS), rng.choice(METHODS)
        )
        payments.append(event)
        if rng.random() < 0.1:
            payments.append(rng.choice(payments))
    accounts = [
        account(
            i,
            rng.randint(0, span),
            rng.randint(0, 15),
            rng.choice(["momo", "vnpay"]),
            rng.random() < 0.7,
            rng.choice(DISTRICTS),
        )
        for i in range(draw(st.integers(0, 80)))
    ]
    bad = [b"{oops", encode(payments[0]).replace(b'"district":"', b'"district":"x')]
    return payments, accounts, bad[: draw(st.integers(0, 2))]


def records_in_arrival_order(
    payments: list[PaymentEvent], accounts: list[AccountEvent], bad: list[bytes], batch: int
) -> list[tuple[str, int, bytes]]:
    """Kafka records: payments keyed by segment, several events per record when `batch` > 1."""
    records: list[tuple[str, int, bytes]] = []
    i = 0
    while i < len(payments):
        key = payments[i].key
        group = [payments[i]]
        while (
            len(group) < batch
            and i + len(group) < len(payments)
            and payments[i + len(group)].key == key
        ):
            group.append(payments[i + len(group)])
        value = encode(group[0]) if len(group) == 1 else encode_batch(group)
        records.append(("payments", hash(key) % PARTITIONS, value))
        i += len(group)
    records += [("accounts", int(a.holder, 16) % PARTITIONS, encode(a)) for a in accounts]
    records += [("payments", 0, value) for value in bad]
    return records


def run(records: list[tuple[str, int, bytes]], worker: Worker, batch_size: int) -> Worker:
    """Feed records in order, `batch_size` consecutive records per partition batch."""
    offsets: Counter[tuple[str, int]] = Counter()
    pending: list[tuple[str, int, int, bytes]] = []
    for topic, partition, value in records:
        pending.append((topic, partition, offsets[topic, partition], value))
        offsets[topic, partition] += 1
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        for topic, partition, offset, value in chunk:
            worker.feed(topic, partition, [(offset, value)])
    return worker


def truth_of(
    payments: list[PaymentEvent], accounts: list[AccountEvent], bad: list[bytes]
) -> MetricValues:
    rejected: Counter[str] = Counter()
    for value in bad:
        rejected.update(r.reason for r in DECODER.decode_payments(value).rejections)
    return expected_metrics(payments, accounts, TAXONOMY, rejected=rejected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_worker_values_equal_the_oracle(
    data: tuple[list[PaymentEvent], list[AccountEvent], list[bytes]],
) -> None:
    payments, accounts, bad = data
    records = records_in_arrival_order(payments, accounts, bad, batch=1)
    worker = run(records, Worker(), batch_size=1)
    assert_same(worker.values(), truth_of(payments, accounts, bad))


def run_grouped(records: list[tuple[str, int, bytes]], worker: Worker, group: int) -> Worker:
    """Feed consecutive records of one partition together, up to `group` per batch."""
    offsets: Counter[tuple[str, int]] = Counter()
    batch: list[tuple[int, bytes]] = []
    where: tuple[str, int] | None = None
    for topic, partition, value in records:
        if batch and ((topic, partition) != where or len(batch) == group):
            worker.feed(where[0], where[1], batch)  # type: ignore[index]
            batch = []
        where = (topic, partition)
        batch.append((offsets[topic, partition], value))
        offsets[topic, partition] += 1
    if batch and where is not None:
        worker.feed(where[0], where[1], batch)
    return worker


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals(), st.integers(2, 8), st.integers(2, 6))
def test_batched_records_and_batches_give_the_same_values(
    data: tuple[list[PaymentEvent], list[AccountEvent], list[bytes]], per_record: int, group: int
) -> None:
    payments, accounts, bad = data
    records = records_in_arrival_order(payments, accounts, bad, batch=per_record)
    worker = run_grouped(records, Worker(), group)
    assert_same(worker.values(), truth_of(payments, accounts, bad))


def restore(changelog: list[tuple[str, list[tuple[bytes, bytes | None]]]]) -> Worker:
    """A new worker whose state is rebuilt from a changelog, as Faust's recovery would."""
    compacted: dict[tuple[str, bytes], bytes | None] = {}
    for topic, writes in changelog:
        for key, value in writes:
            compacted[topic, key] = value
    worker = Worker()
    for topic in ("payments", "accounts"):
        worker.recover(topic, [(k, v) for (t, k), v in compacted.items() if t == topic])
    worker.publish()
    return worker


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals(), st.randoms(use_true_random=False))
def test_crash_and_replay_counts_every_event_once(
    data: tuple[list[PaymentEvent], list[AccountEvent], list[bytes]], rng: random.Random
) -> None:
    payments, accounts, bad = data
    records = records_in_arrival_order(payments, accounts, bad, batch=3)
    offsets: Counter[tuple[str, int]] = Counter()
    numbered = []
    for topic, partition, value in records:
        numbered.append((topic, partition, offsets[topic, partition], value))
        offsets[topic, partition] += 1
    crash_at = rng.randint(0, len(numbered))
    # Offsets are committed only after the producer flushed the changelog (Faust's commit does
    # so), so the batch whose writes were cut short by the crash is never committed.
    committed = rng.randint(0, max(0, crash_at - 1))
    before = Worker()
    for topic, partition, offset, value in numbered[:crash_at]:
        before.feed(topic, partition, [(offset, value)])
    # The changelog holds every batch before the crash but only part of the last one.
    changelog = before.changelog
    if changelog:
        topic, writes = changelog[-1]
        changelog = [*changelog[:-1], (topic, writes[: rng.randint(0, len(writes))])]
    after = restore(changelog)
    for topic, partition, offset, value in numbered[committed:]:
        after.feed(topic, partition, [(offset, value)])
    assert_same(after.values(), truth_of(payments, accounts, bad))


def test_a_replay_after_a_crash_takes_the_same_decisions_whatever_other_partitions_did() -> None:
    """The decisions of a partition's batch depend on its own persisted state only: replayed
    after a crash, by a worker to which another partition has meanwhile brought a stream time
    40 days later, the batch writes exactly what it wrote the first time."""
    segment = SEGMENTS[0]
    first = [payment(i, i, segment, DISTRICTS[i % 3], METHODS[i % 4]) for i in range(6)]
    second = [payment(10 + i, 90 + i, segment, DISTRICTS[i % 3], METHODS[i % 4]) for i in range(6)]
    first_time = Worker()
    first_time.feed("payments", 0, [(0, encode_batch(first))])
    written = first_time.feed("payments", 0, [(1, encode_batch(second))]).writes
    # The crash: the changelog holds the first batch and none of the second.
    replaying = restore(first_time.changelog[:1])
    later = [payment(20, 40 * 24 * 60, SEGMENTS[1], DISTRICTS[0], "qr")]
    replaying.feed("payments", 1, [(0, encode_batch(later))])
    assert replaying.view.stream_time == later[0].occurred_at.timestamp()
    assert replaying.feed("payments", 0, [(1, encode_batch(second))]).writes == written
