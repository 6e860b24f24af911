"""`cashless replay` into the real Kafka: every event once, every bad line in the DLQ, nothing raw.

Each test runs the real command in a subprocess against the session's broker, with its own topic
prefix, then reads the three topics from the beginning to their end offsets.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from cashless.anonymise import Anonymiser
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent
from cashless.taxonomy import load_taxonomy
from cashless.topics import Topics
from ops.stack.ports import free_port
from tests.conftest import ROOT, RunningStack, wait_for
from tests.replay_data import (
    HAWACO_HEADER,
    HAWACO_PROFILE,
    account_record,
    citizen_id,
    payment_record,
    phone_number,
    sheet_profile,
)

pytestmark = pytest.mark.integration

KEY = "integration-pseudonym-key-0123456789"


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


def replay(
    stack: RunningStack, topic_prefix: str, *args: str | Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env["CASHLESS_PSEUDONYM_KEY"] = KEY
    command = [
        sys.executable,
        "-m",
        "cli",
        "replay",
        "--bootstrap-servers",
        stack.bootstrap,
        "--topic-prefix",
        topic_prefix,
        *map(str, args),
    ]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class TopicRecord:
    topic: str
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, timeout: float = 60, **config: Any) -> list[TopicRecord]:
    """Every record of a topic, from the beginning to the end offsets taken now (`config`: more
    consumer settings, such as SASL credentials)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **config)
    try:
        partitions = wait_for(
            lambda: consumer.partitions_for_topic(topic), timeout=30, what=f"topic {topic}"
        )
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        records: list[TopicRecord] = []

        def caught_up() -> bool:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(TopicRecord(topic, m.key, m.value) for m in batch)
            return all(consumer.position(tp) >= end[tp] for tp in assigned)

        wait_for(caught_up, timeout=timeout, what=f"the end of {topic}")
        return records
    finally:
        consumer.close()


@dataclass
class Topicful:
    payments: list[tuple[bytes | None, PaymentEvent]] = field(default_factory=list)
    accounts: list[tuple[bytes | None, AccountEvent]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


def read_all(bootstrap: str, topic_prefix: str) -> Topicful:
    topics = Topics(topic_prefix)
    decoder = EventDecoder(load_taxonomy())
    out = Topicful()
    for record in read_topic(bootstrap, topics.events):
        result = decoder.decode_payments(record.value)
        assert not result.rejections, result.rejections
        out.payments += [(record.key, e) for e in result.events]
        out.raw += [record.key or b"", record.value]
    for record in read_topic(bootstrap, topics.accounts):
        result = decoder.decode_accounts(record.value)
        assert not result.rejections, result.rejections
        out.accounts += [(record.key, e) for e in result.events]
        out.raw += [record.key or b"", record.value]
    for record in read_topic(bootstrap, topics.dlq):
        dl = json.loads(record.value)
        out.dead.append(dl)
        out.raw += [record.key or b"", record.value]
        if dl.get("payload_b64"):
            out.raw.append(base64.b64decode(dl["payload_b64"]))
    return out


def assert_nothing_personal(haystacks: list[bytes], personal: set[str]) -> None:
    """No personal value, in UTF-8 or JSON-escaped form, and no phone/ID/card digits anywhere."""
    blob = b"\n".join(haystacks)
    digits = blob.replace(b" ", b"").replace(b"-", b"").replace(b".", b"")
    for value in personal:
        assert value.encode() not in blob, f"raw personal value {value!r} found"
        escaped = json.dumps(value)[1:-1].encode()
        assert escaped not in blob, f"raw personal value {value!r} found JSON-escaped"
        compact = value.replace(" ", "").replace("-", "").replace(".", "").lstrip("+")
        if compact.isdigit() and len(compact) >= 9:
            assert compact.encode() not in digits, f"digits of {value!r} found"
            assert compact[-9:].encode() not in digits, f"national digits of {value!r} found"


def personal_values(records: list[dict[str, Any]]) -> set[str]:
    values: set[str] = set()
    for r in records:
        for name in ("customer_name", "phone", "card_number", "full_name", "cccd", "note"):
            if name in r:
                values.add(r[name])
        for name in ("payer", "holder"):
            if name in r:
                values.add(r[name])
    return values


def test_replay_jsonl_sends_each_event_once_and_bad_lines_to_the_dlq(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    rng = random.Random(7)
    good = [payment_record(i, rng) if i % 10 else account_record(i, rng) for i in range(600)]
    future = {**good[1], "event_id": "future-1", "occurred_at": "2099-01-01T00:00:00+07:00"}
    secret_name = "Phạm Thị Hạnh"
    secret_phone = "0987 654 321"
    secret_id = citizen_id(99)
    lines: list[bytes] = []
    expected_bad: dict[int, str] = {}
    expected_index: dict[int, int] = {}
    personal = personal_values(good) | {secret_name, secret_phone, secret_id}
    personal |= {citizen_id(i) for i in range(len(good))}

    def add(line: bytes, reason: str | None = None, index: int | None = None) -> None:
        lines.append(line)
        if reason is not None:
            expected_bad[len(lines)] = reason
        if index is not None:
            expected_index[len(lines)] = index

    def dumps(record: Any) -> bytes:
        return json.dumps(record, ensure_ascii=False).encode()

    for i, record in enumerate(good):
        add(dumps(record))
        if i == 10:
            add(b"")
            add(
                dumps({**good[2], "district": "atlantis", "ho_ten": secret_name}),
                "unknown_district",
            )
        if i == 50:
            missing = {k: v for k, v in good[3].items() if k != "amount_vnd"}
            add(dumps({**missing, "event_id": "m-1"}), "missing_field:amount_vnd")
            add(dumps({**good[4], "event_id": "x-1", "method": "barter"}), "unknown_method")
        if i == 100:
            add(f'{{"name": "{secret_name}", "phone": "{secret_phone}"'.encode(), "bad_json")
            add(f"{secret_name} {secret_id}".encode("utf-16"), "bad_utf8")
            add(dumps(future), "future_timestamp")
        if i == 200:
            pair = [
                {**good[5], "event_id": "arr-ok"},
                {**good[5], "event_id": "arr-bad", "schema": 2},
            ]
            add(dumps(pair), "unsupported_schema", index=1)
            add(dumps(secret_phone), "not_an_object")
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    topic_prefix = prefix()
    done = replay(running_stack, topic_prefix, path, "--events-per-record", "50")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    got = read_all(running_stack.bootstrap, topic_prefix)
    expected_payments = {r["event_id"] for r in good if "holder" not in r} | {"arr-ok"}
    expected_accounts = {r["event_id"] for r in good if "holder" in r}
    payment_ids = Counter(e.event_id for _, e in got.payments)
    account_ids = Counter(e.event_id for _, e in got.accounts)
    assert set(payment_ids) == expected_payments
    assert set(account_ids) == expected_accounts
    assert max(payment_ids.values()) == 1, "every valid event exactly once"
    assert max(account_ids.values()) == 1
    assert all(key == e.key.encode() for key, e in got.payments)
    assert all(key == e.holder.encode() for key, e in got.accounts)

    anonymiser = Anonymiser(KEY.encode())
    by_id = {r["event_id"]: r for r in good}
    for _, e in got.payments:
        if e.event_id in by_id:
            assert e.payer == anonymiser.pseudonym(by_id[e.event_id]["payer"])
    for _, a in got.accounts:
        assert a.holder == anonymiser.pseudonym(phone_number(int(a.event_id[2:])))

    dead = {(dl["location"]["line"], dl["reason"]) for dl in got.dead}
    assert dead == set(expected_bad.items())
    assert len(got.dead) == len(expected_bad), "one DLQ record per bad event"
    for dl in got.dead:
        assert dl["origin"] == "replay"
        assert dl["location"]["file"] == "export.jsonl"
        line = dl["location"]["line"]
        assert dl.get("index") == expected_index.get(line)
        assert dl["raw_length"] == len(lines[line - 1])
        if dl["reason"] in ("bad_json", "bad_utf8", "not_an_object"):
            assert "payload_b64" not in dl, "unparseable input is kept as length and hash only"
        else:
            assert "payload_b64" in dl, "a rejected event is kept, scrubbed, for a fix and replay"

    assert "bad_json: 1" in done.stdout
    assert f"{len(expected_payments)} payment events" in done.stdout
    assert_nothing_personal([*got.raw, done.stdout.encode(), done.stderr.encode()], personal)


def test_replay_csv_with_column_map_and_both_kinds(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    header = (
        "ma_gd,thoi_gian,source,channel,segment,district,method,so_tien,payer,holder,type,"
        "schema,ho_ten,so_dien_thoai\n"
    )
    rows = [
        "c1,2026-01-05T08:00:00+07:00,evn-hanoi,utility,electricity,ba-dinh,card,200000,"
        '0912345678,,,1,"Trần Thị\nBình",0912 345 678\n',
        "c2,2026-01-05T08:00:00+07:00,momo,,,ba-dinh,,,,+84 912 345 678,opened,1,Trần Thị Bình,\n",
        "c3,2026-01-05T08:00:00+07:00,evn-hanoi,utility,electricity,ba-dinh,card,"
        "1.000.000,,,,1,Lê Văn Cường,0987654321\n",
        "c4,short\n",
    ]
    path = tmp_path / "evn-export.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")

    topic_prefix = prefix()
    done = replay(
        running_stack,
        topic_prefix,
        path,
        "--column-map",
        "ma_gd=event_id,thoi_gian=occurred_at,so_tien=amount_vnd",
    )
    assert done.returncode == 0, done.stderr

    got = read_all(running_stack.bootstrap, topic_prefix)
    assert [e.event_id for _, e in got.payments] == ["c1"]
    assert [e.event_id for _, e in got.accounts] == ["c2"]
    payment, account = got.payments[0][1], got.accounts[0][1]
    assert payment.amount_vnd == 200000
    assert payment.payer == account.holder, "one person, one pseudonym across sources"
    assert sorted((d["location"]["line"], d["reason"]) for d in got.dead) == [
        (5, "invalid_field:amount_vnd"),
        (6, "bad_csv"),
    ]
    personal = {"Trần Thị\nBình", "Trần Thị Bình", "Lê Văn Cường", "0912345678", "0987654321"}
    assert_nothing_personal([*got.raw, done.stdout.encode(), done.stderr.encode()], personal)


def test_dry_run_sends_nothing(running_stack: RunningStack, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(payment_record(1, random.Random(1))) + "\n{bad\n")
    topic_prefix = prefix()
    done = replay(running_stack, topic_prefix, path, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "1 payment events" in done.stdout
    assert "bad_json: 1" in done.stdout
    admin = KafkaAdminClient(bootstrap_servers=running_stack.bootstrap)
    try:
        assert not [t for t in admin.list_topics() if t.startswith(topic_prefix)]
    finally:
        admin.close()


def test_a_failure_to_deliver_fails_the_command(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    topic_prefix = prefix()
    topics = Topics(topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=running_stack.bootstrap)
    try:
        tiny = {"max.message.bytes": "100"}
        admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs=tiny) for name in topics.partitions()]
        )
    finally:
        admin.close()
    rng = random.Random(3)
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(payment_record(i, rng)) + "\n" for i in range(50)))
    done = replay(running_stack, topic_prefix, path)
    assert done.returncode == 1
    assert "failed to deliver" in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_flushes_what_was_read(running_stack: RunningStack, tmp_path: Path) -> None:
    fifo = tmp_path / "feed.jsonl"
    os.mkfifo(fifo)
    topic_prefix = prefix()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env["CASHLESS_PSEUDONYM_KEY"] = KEY
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "replay",
            "--bootstrap-servers",
            running_stack.bootstrap,
            "--topic-prefix",
            topic_prefix,
            "--chunk-lines",
            "10",
            str(fifo),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rng = random.Random(5)

    def reader_opened() -> int | None:
        assert process.poll() is None, process.communicate()
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO until the command opens the file
            return None

    fd = wait_for(reader_opened, timeout=60, what="replay to open the file")
    os.set_blocking(fd, True)
    writer = os.fdopen(fd, "w", encoding="utf-8")
    try:
        for i in range(25):
            writer.write(json.dumps(payment_record(i, rng)) + "\n")
        writer.flush()

        def sent() -> bool:
            return len(read_topic(running_stack.bootstrap, Topics(topic_prefix).events)) > 0

        wait_for(sent, timeout=60, what="the first chunk in Kafka")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(BrokenPipeError):
            writer.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    assert "interrupted" in stdout
    got = read_all(running_stack.bootstrap, topic_prefix)
    accepted = int(stdout.split("accepted: ")[1].split(" payment events")[0])
    assert accepted >= 20
    assert len(got.payments) == accepted, "everything read before SIGTERM was delivered"
    assert len({e.event_id for _, e in got.payments}) == accepted


def _worker_metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _start_worker(
    stack: RunningStack, topic_prefix: str, tmp_path: Path
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A worker on the test's topics, every cell shown (`CASHLESS_MIN_CELL=1`)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env.update(
        CASHLESS_BOOTSTRAP_SERVERS=stack.bootstrap,
        CASHLESS_PSEUDONYM_KEY=KEY,
        CASHLESS_MIN_CELL="1",
    )
    command = [
        *(sys.executable, "-m", "cli", "worker", "--topic-prefix", topic_prefix),
        *("--app-id", f"replay-{uuid.uuid4().hex[:6]}", "--web-port", str(port)),
        *("--state-dir", str(tmp_path / "state")),
    ]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return worker, port, log


def test_an_export_read_through_a_profile_is_counted_once_and_its_bad_rows_reach_the_dlq(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    profile = tmp_path / "hawaco.toml"
    profile.write_text(HAWACO_PROFILE, "utf-8")
    header = HAWACO_HEADER
    good = [
        f"HD-{n};{1 + n % 28:02d}/11/2026 08:{n % 60:02d};1.{n:03d}.000;"
        f"{'Tiền mặt' if n % 3 else 'Chuyển khoản'};Quận Ba Đình;KH{n:04d};Nguyễn Văn {n}"
        for n in range(30)
    ]
    bad = [
        "HD-90;31/02/2026 08:15;50.000;Tiền mặt;Ba Đình;KH0090;X",  # no such day
        "HD-91;03/11/2026 08:15;50.000,50;Tiền mặt;Ba Đình;KH0091;X",  # a fraction of a đồng
        "HD-92;03/11/2026 08:15;50.000;Thẻ;Ba Đình;KH0092;X",  # a method the profile lacks
    ]
    export = tmp_path / "hawaco.csv"
    rows = [header, *good[:10], "", *bad, *good[10:], ";;;;;;", ""]
    export.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode("utf-8"))
    topic_prefix = prefix()

    done = replay(running_stack, topic_prefix, export, "--profile", profile)
    assert done.returncode == 0, done.stderr
    again = replay(running_stack, topic_prefix, export, "--profile", profile)  # a re-send
    assert again.returncode == 0, again.stderr

    got = read_all(running_stack.bootstrap, topic_prefix)
    assert len(got.payments) == 2 * len(good)
    reasons = sorted((d["location"]["line"], d["reason"]) for d in got.dead)
    assert reasons == sorted(
        2 * [(13, "invalid_field:occurred_at"), (14, "invalid_field:amount_vnd")]
        + 2 * [(15, "unknown_method")]
    )
    personal = {f"Nguyễn Văn {n}" for n in range(30)} | {f"KH{n:04d}" for n in range(30)}
    assert_nothing_personal([*got.raw, done.stdout.encode(), done.stderr.encode()], personal)

    # The electricity company's Excel export: a title row above the header, date and number cells.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Thanh toán"
    sheet.append(["EVN Hà Nội — thu tiền điện tháng 11/2026"])
    sheet.append(header.split(";"))
    for n in range(12):
        when = datetime(2026, 11, 1 + n, 9, 30)
        method = "Chuyển khoản" if n % 4 else "Tiền mặt"
        sheet.append([f"EVN-{n}", when, 400_000 + n, method, "Cầu Giấy", f"PE{n:06d}", "Lê C"])
    workbook = tmp_path / "evn.xlsx"
    book.save(workbook)
    evn = tmp_path / "evn.toml"
    evn.write_text(
        sheet_profile("Thanh toán")
        .replace('"hawaco"', '"evn-hanoi"')
        .replace('"water"', '"electricity"'),
        "utf-8",
    )
    sent = replay(running_stack, topic_prefix, workbook, "--profile", evn)
    assert sent.returncode == 0, sent.stderr

    worker, port, log = _start_worker(running_stack, topic_prefix, tmp_path)
    try:
        cash = sum(1 for n in range(30) if n % 3)
        expected = {
            ("water", "cash"): cash,
            ("water", "bank_transfer"): len(good) - cash,
            ("electricity", "cash"): 3,
            ("electricity", "bank_transfer"): 9,
        }

        def counted() -> dict[tuple[str, str], float] | None:
            assert worker.poll() is None, log.read_text()[-3000:]
            totals = {
                (dict(labels)["segment"], dict(labels)["method"]): value
                for (name, labels), value in _worker_metrics(port).items()
                if name == "cashless_payments_total"
            }
            return totals if totals == expected else None

        wait_for(counted, timeout=180, what="the worker to count every accepted row once")
        amounts = {
            dict(labels)["segment"]: value
            for (name, labels), value in _worker_metrics(port).items()
            if name == "cashless_payments_amount_vnd_total" and dict(labels)["method"] == "cash"
        }
        assert amounts == {
            "water": sum(1_000_000 + n * 1000 for n in range(30) if n % 3),
            "electricity": sum(400_000 + n for n in range(12) if n % 4 == 0),
        }
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _cli(stack: RunningStack, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env.update(CASHLESS_BOOTSTRAP_SERVERS=stack.bootstrap, CASHLESS_PSEUDONYM_KEY=KEY)
    command = [sys.executable, "-m", "cli", *map(str, args)]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_bad_rows_go_to_the_dlq_are_exported_fixed_and_resent_and_count_once(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    rng = random.Random(7)
    good = [payment_record(i, rng) for i in range(40)]
    wrong = [dict(payment_record(100 + i, rng), method="Tiền mặt") for i in range(6)]
    lines = [json.dumps(r, ensure_ascii=False) for r in good[:20] + wrong + good[20:]]
    lines.insert(10, '{"event_id": "broken", ')  # unparseable: kept as length and hash only
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", "utf-8")
    topic_prefix = prefix()
    sent = replay(running_stack, topic_prefix, export)
    assert sent.returncode == 0, sent.stderr

    summary = _cli(running_stack, "dlq", "summary", "--topic-prefix", topic_prefix, "--json")
    assert summary.returncode == 0, summary.stderr
    counts = json.loads(summary.stdout)
    assert counts["by_reason"] == {"unknown_method": 6, "bad_json": 1}
    assert counts["unparseable"] == 1
    assert sum(counts["by_day"].values()) == counts["total"] == 7

    fixed_file = tmp_path / "fixed.jsonl"
    exported = _cli(
        running_stack,
        *("dlq", "export", "--topic-prefix", topic_prefix, "--reason", "unknown_method"),
        *("--out", fixed_file),
    )
    assert exported.returncode == 0, exported.stderr
    assert "exported 6 events" in exported.stdout
    everything = _cli(
        running_stack, "dlq", "export", "--topic-prefix", topic_prefix, "--out", tmp_path / "all"
    )
    assert "not exported: 1 unparseable" in everything.stdout
    assert "line 11: bad_json" in everything.stdout
    rows = [json.loads(line) for line in fixed_file.read_text("utf-8").splitlines()]
    assert sorted(r["event_id"] for r in rows) == sorted(r["event_id"] for r in wrong)
    assert all(len(r["payer"]) == 64 for r in rows), "payers stay pseudonyms"
    for row in rows:
        row["method"] = "cash"  # the fix
    fixed_file.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    resent = [replay(running_stack, topic_prefix, fixed_file) for _ in range(2)]  # twice: safe
    assert all(r.returncode == 0 for r in resent), [r.stderr for r in resent]
    assert replay(running_stack, topic_prefix, export).returncode == 0  # the original again

    got = read_all(running_stack.bootstrap, topic_prefix)
    anonymise = Anonymiser(KEY.encode())
    pseudonyms = {r["event_id"]: anonymise(dict(r))["payer"] for r in wrong}
    fixed = {e.event_id: e.payer for _, e in got.payments if e.event_id in pseudonyms}
    assert fixed == pseudonyms, "the resent events keep the payer's pseudonym"
    worker, port, log = _start_worker(running_stack, topic_prefix, tmp_path)
    try:
        expected: Counter[tuple[str, str, str]] = Counter(
            (r["channel"], r["segment"], r["method"]) for r in good
        )
        expected.update((r["channel"], r["segment"], "cash") for r in wrong)

        def counted() -> bool:
            assert worker.poll() is None, log.read_text()[-3000:]
            totals = {
                (labels["channel"], labels["segment"], labels["method"]): value
                for (name, pairs), value in _worker_metrics(port).items()
                if name == "cashless_payments_total"
                for labels in [dict(pairs)]
            }
            return totals == {k: float(v) for k, v in expected.items()}

        wait_for(counted, timeout=180, what="every event counted once, the fixed ones included")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
