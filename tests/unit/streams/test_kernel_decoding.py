"""The kernel's decoding against the Python decoder (`cashless.schema.EventDecoder`), which stays
the contract's reference: for any record, the ledger accepts the events the decoder accepts, with
the same values, and rejects the others with the decoder's rejections, in its order."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.ledger import PaymentLedger
from tests.unit.streams.test_pipeline_logic import DictStore
from tests.unit.test_parser_fuzz import DECODER, mutated, payment_items, to_bytes


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """One record: an event or an array of them, valid, one field mutated, or not an event."""
    item = st.one_of(
        payment_items(),
        mutated("payments").map(lambda pair: pair[0]),
        st.sampled_from([None, 1, "x", [], {}]),
    )
    value: Any = draw(item) if draw(st.booleans()) else draw(st.lists(item, max_size=6))
    return to_bytes(value, draw(st.booleans()))


def applied(ledger: PaymentLedger) -> Counter[tuple[str, str, str, str]]:
    """Count and amount per (channel, segment, method) as the ledger's totals hold them."""
    out: Counter[tuple[str, str, str, str]] = Counter()
    for figures in ledger.segments(0, None):
        for method, (count, amount) in figures.totals.items():
            out[figures.channel, figures.segment, method, "count"] += count
            out[figures.channel, figures.segment, method, "amount"] += amount
    return +out


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_the_kernel_accepts_and_rejects_what_the_decoder_does(raw: bytes) -> None:
    expected = DECODER.decode_payments(raw)
    ledger = PaymentLedger(DECODER, DictStore())
    outcome = ledger.process(0, [(0, raw)])
    assert [rejection for _, rejection, _ in outcome.rejections] == expected.rejections
    assert all(kept == raw for _, _, kept in outcome.rejections), "the DLQ keeps the record"
    meta = ledger.meta(0)
    assert sum(meta.rejected.values()) == len(expected.rejections)
    if meta.duplicates == meta.late == 0:
        truth: Counter[tuple[str, str, str, str]] = Counter()
        for e in expected.events:
            truth[e.channel, e.segment, e.method, "count"] += 1
            truth[e.channel, e.segment, e.method, "amount"] += e.amount_vnd
        assert applied(ledger) == +truth


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_what_the_fast_path_reads_is_what_the_decoder_reads(raw: bytes) -> None:
    """The fast path reads a record only when the decoder accepts all of it, and then gives
    every field the value the decoder gives it (the event time to the same float)."""
    fast = ledger_kernel().fast_events(raw, DECODER.latest_allowed())
    if fast is None:
        return
    expected = DECODER.decode_payments(raw)
    assert not expected.rejections
    assert fast == [
        (
            e.event_id,
            e.occurred_at.timestamp(),
            e.source,
            e.channel,
            e.segment,
            e.district,
            e.method,
            e.amount_vnd,
        )
        for e in expected.events
    ]


def test_the_fast_path_reads_the_common_spellings() -> None:
    """Not a vacuous check: valid events in the producers' spelling take the fast path."""
    event = {
        "schema": 1,
        "event_id": "e-1",
        "occurred_at": "2026-11-20T08:15:00.250+07:00",
        "source": "evn-hanoi",
        "channel": "utility",
        "segment": "electricity",
        "district": "ba-dinh",
        "method": "qr",
        "amount_vnd": 1250000,
    }
    raw = json.dumps([event, {**event, "event_id": "e-2", "occurred_at": "2026-11-20T01:00:00Z"}])
    fast = ledger_kernel().fast_events(raw.encode(), DECODER.latest_allowed())
    assert fast is not None
    assert [e[1] for e in fast] == [1795137300.25, 1795136400.0]


def ledger_kernel() -> Any:
    return PaymentLedger(DECODER, DictStore())._kernel
