"""`cashless simulate` into the real Kafka sends exactly what the same run writes with `--out`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.conftest import ROOT, RunningStack

pytestmark = pytest.mark.integration

Item = bytes  # canonical JSON of one event, or the raw bytes of an unparseable record

RUN = [
    "simulate",
    "--seed",
    "4",
    "--days",
    "3",
    "--events-per-day",
    "600",
    "--end",
    "2026-11-01T00:00:00+07:00",
    "--bad-records",
    "0.02",
    "--duplicates",
    "0.02",
    "--late",
    "0.02",
    "--batch-size",
    "50",
]


def simulate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli", *RUN, *args]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # bad JSON or bad UTF-8: compared as raw bytes
        return None


def canonical(value: Any) -> Item:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def key_of(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    if "holder" in value:
        return str(value["holder"])
    if "channel" in value and "segment" in value:
        return f"{value['channel']}:{value['segment']}"
    return None


def consume(bootstrap: str, topics: list[str], expected: int) -> list[tuple[str, Item, bool]]:
    """(record key, item, parseable) for every event in the topics, records expanded."""
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    items: list[tuple[str, Item, bool]] = []
    deadline = time.monotonic() + 90
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    key = message.key.decode()
                    value = parse(message.value)
                    if value is None:
                        items.append((key, message.value, False))
                    elif isinstance(value, list):
                        items.extend((key, canonical(v), True) for v in value)
                    else:
                        items.append((key, canonical(value), True))
            if len(items) >= expected:
                # Keep polling briefly, so that anything sent beyond the file is seen too.
                quiet_until = quiet_until or time.monotonic() + 2
                if time.monotonic() > quiet_until:
                    break
    finally:
        consumer.close()
    return items


def test_kafka_run_sends_what_the_file_run_writes(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}."
    env = {
        **os.environ,
        "CASHLESS_PSEUDONYM_KEY": "integration-test-key-0123456789",
        "CASHLESS_BOOTSTRAP_SERVERS": running_stack.bootstrap,
    }
    kafka_run = simulate(["--topic-prefix", prefix, "--truth", str(tmp_path / "k.truth.json")], env)
    assert "to Kafka" in kafka_run.stderr
    simulate(["--out", str(tmp_path / "f.jsonl")], env)
    assert (tmp_path / "k.truth.json").read_bytes() == (tmp_path / "f.truth.json").read_bytes()

    lines = (tmp_path / "f.jsonl").read_bytes().splitlines()
    expected: list[tuple[str | None, Item, bool]] = []
    for line in lines:
        value = parse(line)
        if value is None:
            expected.append((None, line, False))
        else:
            expected.append((key_of(value), canonical(value), True))
    assert any(not ok for _, _, ok in expected)  # unparseable bad records are in play
    assert any(b"-annex" in item for _, item, _ in expected)  # and an unknown segment

    received = consume(
        running_stack.bootstrap,
        [f"{prefix}payments.events", f"{prefix}payments.accounts"],
        len(lines),
    )
    # The same events, each as often as in the file (duplicates included).
    assert Counter(item for _, item, _ in received) == Counter(item for _, item, _ in expected)
    # Per record key, Kafka keeps the file's order (one key, one partition).
    sent: dict[str, list[Item]] = defaultdict(list)
    for key, item, ok in received:
        if ok:
            sent[key].append(item)
    wanted: dict[str, list[Item]] = defaultdict(list)
    for line_key, item, ok in expected:
        if ok and line_key is not None:
            wanted[line_key].append(item)
    assert sent == wanted
    assert len(wanted) > 100  # payments keys plus thousands of holders


def test_live_run_into_kafka_stamps_the_present(running_stack: RunningStack) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}."
    env = {
        **os.environ,
        "CASHLESS_PSEUDONYM_KEY": "integration-test-key-0123456789",
        "CASHLESS_BOOTSTRAP_SERVERS": running_stack.bootstrap,
        "CASHLESS_TOPIC_PREFIX": prefix,
    }
    before = time.time()
    command = [sys.executable, "-m", "cli", "simulate", "--rate", "400/s"]
    result = subprocess.run(
        [*command, "--duration", "2s", "--population-scale", "0.0002"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    after = time.time()
    assert result.returncode == 0, result.stderr
    summary = re.search(r"^\s+payments\s+([\d,]+)", result.stderr, re.MULTILINE)
    assert summary is not None, result.stderr
    sent = int(summary.group(1).replace(",", ""))
    assert 300 <= sent <= 900
    received = consume(running_stack.bootstrap, [f"{prefix}payments.events"], sent)
    assert len(received) == sent
    for _, item, _ in received:
        occurred = datetime.fromisoformat(json.loads(item)["occurred_at"]).timestamp()
        assert before - 1 <= occurred <= after + 1
