"""What the payment ledger persists: a few keys per batch, and enough to recover exactly.

The ledger writes one key per (segment, district, event-time hour) and one key per batch for the
dedup entries, not one per event. These tests pin that down, and crash the worker at any point
of a batch's writes, with batch boundaries that differ before and after the crash, against the
oracle.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streams.ledger
from cashless.eventtime import MINUTE, local_day
from cashless.schema import AccountEvent, PaymentEvent, encode, encode_batch
from streams.ledger import SEEN_ROWS_PER_KEY, PaymentLedger
from tests.unit.streams.test_pipeline_logic import (
    DECODER,
    SEGMENTS,
    START,
    DictStore,
    Worker,
    arrivals,
    assert_same,
    payment,
    records_in_arrival_order,
    restore,
    truth_of,
)

SEGMENT = SEGMENTS[0]
Changelog = list[tuple[str, list[tuple[bytes, bytes | None]]]]
Numbered = list[tuple[str, int, int, bytes]]


def decoded(write: bytes | None) -> Any:
    assert write is not None
    return msgspec.json.decode(write)


def kinds(keys: list[bytes]) -> Counter[str]:
    return Counter(key.split(b"|", 1)[0].decode() for key in keys)


def test_a_batch_writes_a_key_per_cell_hour_and_one_dedup_key_not_one_per_event() -> None:
    # 1200 events in one segment and district, over two event-time hours, in 12 records.
    events = [payment(i, i // 10, SEGMENT, "hoan-kiem", ["cash", "qr"][i % 2]) for i in range(1200)]
    records = [
        (offset, encode_batch(events[offset * 100 : offset * 100 + 100])) for offset in range(12)
    ]
    outcome = PaymentLedger(DECODER, DictStore()).process(0, records)
    assert kinds(list(outcome.writes)) == {"c": 2, "t": 2, "d": 1, "p": 1}
    assert list(outcome.writes)[-1] == b"p|0", "the partition meta is written last"
    hours = [decoded(v) for k, v in outcome.writes.items() if k.startswith(b"c|")]
    assert sorted(len(rows) for rows in hours) == [60, 60], "one row per minute of the hour"
    assert sum(row[1] for rows in hours for row in rows) == 1200
    assert all(len(row) == 6 for rows in hours for row in rows)
    (dedup,) = [v for k, v in outcome.writes.items() if k.startswith(b"d|")]
    rows = decoded(dedup)
    assert len(rows) == 1200
    assert rows[0] == [*SEGMENT, "src-electricity", "e0", 0, 0, START.timestamp()]


def test_dedup_rows_are_split_into_bounded_keys_per_local_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams.ledger, "SEEN_ROWS_PER_KEY", 7)
    # 20 events an hour apart from 00:00 UTC (07:00 in Hanoi): 17 on one local day, 3 the next.
    events = [payment(i, i * 60, SEGMENT, "hoan-kiem", "qr") for i in range(20)]
    outcome = PaymentLedger(DECODER, DictStore()).process(5, [(40, encode_batch(events))])
    dedup = {k: decoded(v) for k, v in outcome.writes.items() if k.startswith(b"d|")}
    day = local_day(START.timestamp())
    assert {k: len(rows) for k, rows in dedup.items()} == {
        f"d|5|{day}|40|0".encode(): 7,
        f"d|5|{day}|40|7".encode(): 7,
        f"d|5|{day}|40|14".encode(): 3,
        f"d|5|{day + 1}|40|17".encode(): 3,
    }, "keyed by the local day and the position of their first row"
    assert all(local_day(row[6]) == int(k.split(b"|")[2]) for k, rs in dedup.items() for row in rs)


def test_a_full_dedup_key_of_the_longest_ids_fits_in_a_kafka_record() -> None:
    events = [
        PaymentEvent(
            schema=1,
            event_id=f"{i:064d}",
            occurred_at=START + timedelta(seconds=i),
            source="s" * 64,
            channel="market",
            segment="dong-xuan",
            district="hoan-kiem",
            method="qr",
            amount_vnd=10**12,
        )
        for i in range(SEEN_ROWS_PER_KEY)
    ]
    outcome = PaymentLedger(DECODER, DictStore()).process(0, [(10**12, encode_batch(events))])
    assert max(len(v or b"") for v in outcome.writes.values()) < 900_000


def test_a_sweep_persisted_without_the_rest_of_its_batch_keeps_duplicates_out() -> None:
    # The second record re-sends the first event, then moves the segment's clock 31 days on:
    # the first event's dedup entry expires during that batch. Whatever prefix of the batch's
    # writes a crash keeps, replaying from either committed offset counts the re-send once.
    first = payment(1, 0, SEGMENT, "hoan-kiem", "qr")
    later = payment(2, 31 * 1440, SEGMENT, "hoan-kiem", "cash")
    records = [encode(first), encode_batch([first, later])]
    expected = truth_of([first, first, later], [], [])
    before = Worker()
    for offset, value in enumerate(records):
        before.feed("payments", 0, [(offset, value)])
    topic, writes = before.changelog[-1]
    for cut in range(len(writes) + 1):
        for committed in (0, 1):
            after = restore([*before.changelog[:-1], (topic, writes[:cut])])
            for offset in range(committed, len(records)):
                after.feed("payments", 0, [(offset, records[offset])])
            assert_same(after.values(), expected)


def test_recovery_keeps_the_later_entry_of_a_re_applied_event_in_any_key_order() -> None:
    # An event applied, expired after 30 days, applied again: two live dedup keys hold it (the
    # first also holds an event of a quiet segment, so it is not pruned). Whatever order
    # recovery reads them in, a re-send a day later is a duplicate of the second.
    first = payment(1, 0, SEGMENT, "hoan-kiem", "cash")
    quiet = payment(2, 0, SEGMENTS[1], "hoan-kiem", "cash")
    filler = payment(3, 31 * 1440 - 5, SEGMENT, "hoan-kiem", "cash")
    again = payment(1, 31 * 1440, SEGMENT, "hoan-kiem", "qr")
    resent = payment(1, 32 * 1440, SEGMENT, "hoan-kiem", "cash")
    arrivals_ = [first, quiet, filler, again, resent]
    expected = truth_of(arrivals_, [], [])
    before = Worker()
    before.feed("payments", 0, [(0, encode(first)), (1, encode(quiet))])
    before.feed("payments", 0, [(2, encode(filler))])
    before.feed("payments", 0, [(3, encode(again))])
    live: dict[bytes, bytes | None] = {}
    for _, writes in before.changelog:
        live.update(writes)
    holding = [k for k, v in live.items() if v is not None and b'"e1"' in v]
    days = [local_day(e.occurred_at.timestamp()) for e in (first, again)]
    assert holding == [f"d|0|{days[0]}|0|0".encode(), f"d|0|{days[1]}|3|0".encode()]
    for order in (1, -1):
        after = Worker()
        after.recover("payments", list(live.items())[::order])
        after.publish()
        after.feed("payments", 0, [(4, encode(resent))])
        assert_same(after.values(), expected)
        assert after.view.duplicates() == 1


def test_keys_that_can_no_longer_matter_are_deleted_from_the_changelog() -> None:
    worker = Worker()
    events = [
        payment(i, i * 60, SEGMENTS[i % 2], "hoan-kiem", "qr")  # one event an hour, 60 days
        for i in range(60 * 24)
    ]
    for offset, event in enumerate(events):
        worker.feed("payments", 0, [(offset, encode(event))])
    live: dict[bytes, bytes | None] = {}
    for _, writes in worker.changelog:
        live.update(writes)
    kept = kinds([k for k, v in live.items() if v is not None])
    # 30 days of horizon plus up to a day before the daily sweep, plus the trend's 30 days.
    assert kept["d"] <= 33 * 24
    assert kept["c"] <= 33 * 24
    assert kinds([k for k, v in live.items() if v is None])["d"] > 20 * 24
    # the local dedup index goes with its rows: one key per event of the days kept
    indexed = kinds(list(worker.stores["payments"].data))["e"]
    assert 30 * 24 <= indexed <= 33 * 24
    resent = events[-24 * 20 :]  # re-sends of the last 20 days: duplicates, all of them
    after = restore(worker.changelog)
    for offset, event in enumerate(resent, start=len(events)):
        after.feed("payments", 0, [(offset, encode(event))])
    assert_same(after.values(), truth_of(events + resent, [], []))
    assert after.view.duplicates() == len(resent)


def numbered(records: list[tuple[str, int, bytes]]) -> Numbered:
    offsets: Counter[tuple[str, int]] = Counter()
    out = []
    for topic, partition, value in records:
        out.append((topic, partition, offsets[topic, partition], value))
        offsets[topic, partition] += 1
    return out


def batches(records: Numbered, start: int, size: int) -> list[tuple[int, Numbered]]:
    """Consecutive records of one partition, up to `size`, each with its global index."""
    out: list[tuple[int, Numbered]] = []
    for i in range(start, len(records)):
        where = records[i][:2]
        if out and out[-1][1][0][:2] == where and len(out[-1][1]) < size:
            out[-1][1].append(records[i])
        else:
            out.append((i, [records[i]]))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals(), st.integers(1, 6), st.randoms(use_true_random=False))
def test_crashes_mid_batch_with_other_batching_on_replay_count_every_event_once(
    data: tuple[list[PaymentEvent], list[AccountEvent], list[bytes]],
    per_record: int,
    rng: random.Random,
) -> None:
    payments, accounts, bad = data
    records = numbered(records_in_arrival_order(payments, accounts, bad, batch=per_record))
    changelog: Changelog = []
    committed = 0
    for _ in range(rng.randint(1, 3)):  # crashes, each replaying from the committed record
        worker = restore(changelog)
        todo = batches(records, committed, rng.randint(1, 8))
        crash = rng.randint(0, len(todo))
        for _, batch in todo[:crash]:
            topic, partition = batch[0][:2]
            worker.feed(topic, partition, [(offset, value) for _, _, offset, value in batch])
        if crash < len(todo):
            # The batch being persisted when the worker died: a prefix of its writes got out.
            _, batch = todo[crash]
            topic, partition = batch[0][:2]
            outcome = worker.feed(topic, partition, [(o, v) for _, _, o, v in batch])
            writes = list(outcome.writes.items())
            worker.changelog[-1] = (topic, writes[: rng.randint(0, len(writes))])
        # Offsets are committed only for batches whose writes Kafka holds.
        limit = todo[crash][0] if crash < len(todo) else len(records)
        committed = rng.randint(committed, limit)
        changelog += worker.changelog
    worker = restore(changelog)
    for _, batch in batches(records, committed, rng.randint(1, 8)):
        topic, partition = batch[0][:2]
        worker.feed(topic, partition, [(offset, value) for _, _, offset, value in batch])
    assert_same(worker.values(), truth_of(payments, accounts, bad))


def test_minute_positions_make_a_replayed_hour_idempotent() -> None:
    # Two records in one hour; the hour key persisted after the second is replayed from the
    # first: each minute keeps its own position, so neither event counts twice.
    a = payment(1, 0, SEGMENT, "hoan-kiem", "qr")
    b = payment(2, 1, SEGMENT, "hoan-kiem", "cash")
    worker = Worker()
    worker.feed("payments", 0, [(0, encode(a))])
    worker.feed("payments", 0, [(1, encode(b))])
    hour = [v for k, v in worker.changelog[-1][1] if k.startswith(b"c|")]
    assert [row[0] * MINUTE for row in decoded(hour[0])] == [
        a.occurred_at.timestamp(),
        b.occurred_at.timestamp(),
    ]
    cells_only = [
        (t, [(k, v) for k, v in w if not k.startswith(b"p|")]) for t, w in worker.changelog
    ]
    after = restore(cells_only)
    after.feed("payments", 0, [(0, encode(a)), (1, encode(b))])
    assert_same(after.values(), truth_of([a, b], [], []))


def test_a_kept_local_store_is_indexed_for_what_recovery_added_to_it() -> None:
    # The local store holds the first two batches (and their index); Faust's recovery adds the
    # third batch's keys from the changelog. Re-sends of all three batches are duplicates.
    events = [payment(i, i * 10, SEGMENT, "hoan-kiem", "qr") for i in range(30)]
    before = Worker()
    for offset in range(3):
        before.feed("payments", 0, [(offset, encode_batch(events[offset * 10 : offset * 10 + 10]))])
        if offset == 1:
            kept = dict(before.stores["payments"].data)
    live: dict[bytes, bytes | None] = {}
    for _, writes in before.changelog:
        live.update(writes)
    after = Worker()
    after.stores["payments"].data = kept
    after.recover("payments", live.items())
    after.publish()
    assert kinds(list(after.stores["payments"].data))["e"] == 30
    after.feed("payments", 0, [(3, encode_batch(events))])
    assert_same(after.values(), truth_of(events + events, [], []))
    assert after.view.duplicates() == 30


class CountingStore(DictStore):
    """A dict store that records the dedup index keys each multi-get asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.index_reads: list[bytes] = []

    def get_many(self, partition: int, keys: Any) -> list[bytes | None]:
        self.index_reads += [key for key in keys if key.startswith(b"e|")]
        return super().get_many(partition, keys)


def test_the_dedup_index_is_read_only_for_events_that_may_have_been_seen() -> None:
    store = CountingStore()
    ledger = PaymentLedger(DECODER, store)
    first = [payment(i, i, SEGMENT, "hoan-kiem", "qr") for i in range(200)]
    store.apply(_all_writes(ledger.process(0, [(0, encode_batch(first))])))
    assert store.index_reads == []  # 200 new events, not one index read
    again = first[:3]
    outcome = ledger.process(
        0, [(1, encode_batch([*again, payment(500, 300, SEGMENT, "ba-dinh", "qr")]))]
    )
    store.apply(_all_writes(outcome))
    assert len(store.index_reads) == 3  # the three re-sent ones only
    assert ledger.meta(0).duplicates == 3
    # Recovery rebuilds what may have been seen from the dedup rows: a re-send is still read
    # (and is a duplicate), a new event still is not.
    recovered = PaymentLedger(DECODER, store)
    for key, value in sorted(store.data.items()):
        if not key.startswith(b"e|"):
            store.apply(recovered.restore(key, value))
    store.index_reads.clear()
    recovered.process(
        0, [(2, encode_batch([*first[5:6], payment(501, 301, SEGMENT, "ba-dinh", "qr")]))]
    )
    assert len(store.index_reads) == 1
    assert recovered.meta(0).duplicates == 4


def _all_writes(outcome: Any) -> dict[bytes, bytes | None]:
    return {**outcome.writes, **outcome.local}
