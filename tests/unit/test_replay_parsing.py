"""Replay without a broker: file parsing, CSV mapping, batching, and the dead-letter records."""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from cashless.anonymise import Anonymiser
from cashless.deadletter import DeadLetter
from cashless.errors import ConfigError
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.taxonomy import load_taxonomy
from producers.replay.readers import (
    SourceLine,
    csv_record,
    detect_format,
    parse_column_map,
    read_csv,
    read_jsonl,
)
from producers.replay.replayer import Replayer, ReplaySummary
from tests.replay_data import account_record, payment_record

KEY = b"replay-unit-test-key"
PAYMENT = {
    "schema": 1,
    "event_id": "e1",
    "occurred_at": "2026-01-05T08:00:00+07:00",
    "source": "hawaco",
    "channel": "utility",
    "segment": "water",
    "district": "dong-da",
    "method": "qr",
    "amount_vnd": 150000,
}


def jsonl(*records: Any) -> io.BytesIO:
    lines = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    return io.BytesIO(b"\n".join(lines) + b"\n")


def parsed(lines: Iterator[tuple[int, SourceLine | None]]) -> list[SourceLine | None]:
    return [line for _, line in lines]


# -- options -------------------------------------------------------------------------------------


def test_parse_column_map() -> None:
    assert parse_column_map("so_tien=amount_vnd, ma_gd = event_id,") == {
        "so_tien": "amount_vnd",
        "ma_gd": "event_id",
    }
    assert parse_column_map(None) == {}
    with pytest.raises(ConfigError, match="old=new"):
        parse_column_map("so_tien")
    with pytest.raises(ConfigError):
        parse_column_map("=amount_vnd")


def test_detect_format(tmp_path: Any) -> None:
    assert detect_format(tmp_path / "x.CSV") == "csv"
    assert detect_format(tmp_path / "x.jsonl") == "jsonl"
    assert detect_format(tmp_path / "x.txt") == "jsonl"
    assert detect_format(tmp_path / "x.txt", "csv") == "csv"


# -- JSON Lines ----------------------------------------------------------------------------------


def test_jsonl_lines_are_numbered_and_parsed() -> None:
    stream = jsonl(PAYMENT, b"", b"   ", b"{broken", b"\xff\xfe{}", [PAYMENT])
    lines = parsed(read_jsonl(stream))
    assert lines[1] is None
    assert lines[2] is None
    first, bad_json, bad_utf8, array = lines[0], lines[3], lines[4], lines[5]
    assert first is not None
    assert first.record == PAYMENT
    assert first.number == 1
    assert bad_json is not None
    assert bad_json.rejection is not None
    assert (bad_json.number, bad_json.rejection.reason) == (4, "bad_json")
    assert bad_utf8 is not None
    assert bad_utf8.rejection is not None
    assert bad_utf8.rejection.reason == "bad_utf8"
    assert array is not None
    assert array.record == [PAYMENT]


def test_invalid_utf8_inside_a_json_string_is_a_rejection_not_a_crash() -> None:
    # msgspec raises UnicodeDecodeError (not DecodeError) for these.
    lines = parsed(read_jsonl(jsonl(b'{"source":"\xff"}', b'{"\xfe":1}', PAYMENT)))
    reasons = [line.rejection.reason if line and line.rejection else None for line in lines]
    assert reasons == ["bad_utf8", "bad_utf8", None]


def test_windows_line_endings_and_a_missing_final_newline() -> None:
    stream = io.BytesIO(json.dumps(PAYMENT).encode() + b"\r\n" + json.dumps(PAYMENT).encode())
    lines = parsed(read_jsonl(stream))
    assert [line.record for line in lines if line is not None] == [PAYMENT, PAYMENT]


def test_bytes_consumed_add_up_to_the_file_size() -> None:
    stream = jsonl(PAYMENT, b"", b"{broken")
    assert sum(n for n, _ in read_jsonl(stream)) == len(stream.getvalue())


def test_an_oversize_line_is_not_kept_in_memory() -> None:
    huge = b'{"x":"' + b"a" * 5000 + b'"}'
    stream = jsonl(PAYMENT, huge, PAYMENT)
    lines = parsed(read_jsonl(stream, limit=1000))
    oversize = lines[1]
    assert oversize is not None
    assert oversize.rejection is not None
    assert oversize.rejection.reason == "oversize"
    assert oversize.raw == b""
    assert oversize.raw_length == len(huge) + 1
    assert oversize.raw_digest is not None
    after = lines[2]
    assert after is not None
    assert after.record == PAYMENT, "the next line is intact"


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_record_converts_digits_and_drops_empty_cells() -> None:
    header = ["schema", "amount_vnd", "event_id", "holder", "note"]
    assert csv_record(header, ["1", "150000", "007", "", " x "]) == {
        "schema": 1,
        "amount_vnd": 150000,
        "event_id": "007",
        "note": "x",
    }
    assert csv_record(header, ["1", "150,000", "e", "", ""])["amount_vnd"] == "150,000"


def test_csv_with_column_map_quotes_and_bad_rows() -> None:
    text = (
        "\ufeffma_gd,occurred_at,source,channel,segment,district,method,so_tien,ho_ten\n"
        'c1,2026-01-05T08:00:00+07:00,evn-hanoi,utility,electricity,ba-dinh,card,200000,"Trần\n'
        'Thị Bình"\n'
        "\n"
        "c2,too,few\n"
        'c3,2026-01-05T08:00:00+07:00,evn-hanoi,utility,electricity,ba-dinh,cash,5,"Lê, ""An"""\n'
    )
    stream = io.BytesIO(text.encode())
    column_map = {"ma_gd": "event_id", "so_tien": "amount_vnd"}
    lines = parsed(read_csv(stream, column_map=column_map))
    records = [line for line in lines if line is not None]
    assert [r.number for r in records] == [2, 5, 6]
    first, short, last = records
    assert first.record["event_id"] == "c1"
    assert first.record["amount_vnd"] == 200000
    assert first.record["ho_ten"] == "Trần\nThị Bình"
    assert short.rejection is not None
    assert short.rejection.reason == "bad_csv"
    assert last.record["ho_ten"] == 'Lê, "An"'


def test_csv_unterminated_quote_at_the_end_is_rejected() -> None:
    stream = io.BytesIO(b'event_id,note\ne1,"open\nstill open\n')
    lines = [line for line in parsed(read_csv(stream)) if line is not None]
    assert len(lines) == 1
    assert lines[0].rejection is not None
    assert lines[0].rejection.reason == "bad_csv"
    assert lines[0].number == 2


def test_csv_bad_utf8_row() -> None:
    stream = io.BytesIO(b"event_id,note\ne1,\xff\n")
    lines = [line for line in parsed(read_csv(stream)) if line is not None]
    assert lines[0].rejection is not None
    assert lines[0].rejection.reason == "bad_utf8"


# -- the replayer --------------------------------------------------------------------------------


@dataclass
class RecordingSink:
    payments: list[tuple[str, list[PaymentEvent]]] = field(default_factory=list)
    accounts: list[tuple[str, list[AccountEvent]]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    flushes: int = 0

    def send_payments(self, key: str, events: list[PaymentEvent]) -> None:
        self.payments.append((key, list(events)))

    def send_accounts(self, key: str, events: list[AccountEvent]) -> None:
        self.accounts.append((key, list(events)))

    def send_dead_letter(self, dl: DeadLetter) -> None:
        self.dead.append(dl)

    def flush(self, timeout: float | None = None) -> int:
        self.flushes += 1
        return 0

    def everything(self) -> bytes:
        values = [msgspec.json.encode(b) + k.encode() for k, b in self.payments + self.accounts]
        for dl in self.dead:
            values.append(dl.encode())
            if dl.payload_b64:
                values.append(base64.b64decode(dl.payload_b64))
        return b"\n".join(values)


def replayer(sink: RecordingSink, per_record: int = 500, chunk: int = 20_000) -> Replayer:
    decoder = EventDecoder(load_taxonomy())
    anonymiser = Anonymiser(KEY)
    return Replayer(sink, anonymiser, decoder, events_per_record=per_record, chunk_lines=chunk)


def test_events_are_batched_per_key_and_bad_lines_dead_lettered() -> None:
    rng = random.Random(1)
    raw = [payment_record(i, rng) for i in range(40)] + [account_record(40, rng)]
    bad_district = {**PAYMENT, "event_id": "bad1", "district": "atlantis", "phone": "0912345678"}
    stream = jsonl(*raw, bad_district, b"{not json 0912345678", [PAYMENT, "0987654321"])
    sink = RecordingSink()
    summary = replayer(sink, per_record=3).replay(read_jsonl(stream), ReplaySummary(file="f"))

    assert (summary.payments, summary.accounts) == (41, 1)
    assert summary.rejected == {"unknown_district": 1, "bad_json": 1, "not_an_object": 1}
    assert all(len(batch) <= 3 for _, batch in sink.payments)
    assert all(key == e.key for key, batch in sink.payments for e in batch)
    sent_ids = [e.event_id for _, batch in sink.payments for e in batch]
    assert sorted(sent_ids) == sorted([f"p-{i}" for i in range(40)] + ["e1"])
    assert [e.event_id for _, b in sink.accounts for e in b] == ["a-40"]
    assert sink.flushes == 1

    by_line = {dl.location["line"]: dl for dl in sink.dead}
    assert by_line[42].reason == "unknown_district"
    assert by_line[42].event_id == "bad1"
    payload = json.loads(base64.b64decode(by_line[42].payload_b64 or ""))
    assert payload["district"] == "atlantis"
    assert "phone" not in payload
    assert by_line[43].reason == "bad_json"
    assert by_line[43].payload_b64 is None
    assert by_line[43].raw_length == len(b"{not json 0912345678")
    assert by_line[44].reason == "not_an_object"
    assert by_line[44].index == 1
    assert by_line[44].payload_b64 is None
    assert all(dl.origin == "replay" and dl.location["file"] == "f" for dl in sink.dead)


def test_nothing_raw_is_sent() -> None:
    rng = random.Random(2)
    raw = [payment_record(i, rng) for i in range(50)] + [account_record(i, rng) for i in range(5)]
    broken = [{**r, "district": "nowhere"} for r in raw[:5]]
    stream = jsonl(*raw, *broken)
    sink = RecordingSink()
    replayer(sink).replay(read_jsonl(stream), ReplaySummary(file="f"))
    sent = sink.everything().decode()
    for record in raw:
        for name in ("customer_name", "phone", "card_number", "full_name", "cccd", "note"):
            if name in record:
                assert record[name] not in sent
    for record in raw[:50]:
        assert record["phone"][1:] not in sent


def test_buffers_are_sent_every_chunk_of_lines() -> None:
    stream = jsonl(*[{**PAYMENT, "event_id": f"e{i}"} for i in range(10)])
    sink = RecordingSink()
    replayer(sink, per_record=100, chunk=4).replay(read_jsonl(stream), ReplaySummary(file="f"))
    assert [len(b) for _, b in sink.payments] == [4, 4, 2]


def test_an_interruption_still_sends_what_was_read() -> None:
    def lines() -> Iterator[tuple[int, SourceLine | None]]:
        yield 10, SourceLine(1, b"x", record=dict(PAYMENT))
        raise KeyboardInterrupt

    sink = RecordingSink()
    summary = ReplaySummary(file="f")
    with pytest.raises(KeyboardInterrupt):
        replayer(sink).replay(lines(), summary)
    assert summary.interrupted
    assert [e.event_id for _, b in sink.payments for e in b] == ["e1"]
    assert sink.flushes == 1


def test_mixed_csv_rows_become_both_kinds() -> None:
    text = (
        "event_id,occurred_at,source,channel,segment,district,method,amount_vnd,holder,type,schema\n"
        "c1,2026-01-05T08:00:00+07:00,evn-hanoi,utility,electricity,ba-dinh,card,200000,,,1\n"
        "c2,2026-01-05T08:00:00+07:00,momo,,,ba-dinh,,,0987654321,opened,1\n"
    )
    sink = RecordingSink()
    summary = replayer(sink).replay(
        read_csv(io.BytesIO(text.encode())), ReplaySummary(file="x.csv")
    )
    assert (summary.payments, summary.accounts, summary.blank) == (1, 1, 1)
    assert sink.accounts[0][1][0].holder == Anonymiser(KEY).pseudonym("0987654321")


def test_summary_report() -> None:
    summary = ReplaySummary(file="f", lines=3, payments=2, elapsed=2.0)
    summary.rejected["bad_json"] += 1
    report = "\n".join(summary.report())
    assert "2 payment events" in report
    assert "bad_json: 1" in report
    assert summary.events_per_second == 1.0
