"""Every command answers a bad flag, setting or path with one line and an exit status: 2 for
what the user must change, 1 for what could not be done; never a traceback.

Each case fails before any server or Kafka is needed. Run as a user would: the real console
entry point in a subprocess, stdin closed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEY = "unit-test-pseudonym-key-0123456789abcdef"

# (command line, extra environment, expected exit status, a word the error must hold)
CASES = [
    ("worker --web-port 99999", {}, 2, "web_port"),
    ("worker --min-cell 0", {}, 2, "min_cell"),
    ("worker", {"CASHLESS_NONCASH_GOAL": "2"}, 2, "noncash_goal"),
    ("worker --bootstrap-servers 127.0.0.1:1 --state-dir {tmp}/w", {}, 1, "cannot reach Kafka"),
    ("simulate --days 1 --bootstrap-servers 127.0.0.1:1", {}, 1, "cannot reach Kafka"),
    ("simulate --out /missing/dir/x.jsonl --days 1", {}, 2, "/missing/dir"),
    ("simulate --rate fast", {}, 2, "fast"),
    ("replay /missing/export.csv", {}, 2, "/missing/export.csv"),
    ("replay {tmp}/ok.jsonl --profile {tmp}/missing.toml", {}, 2, "missing.toml"),
    ("replay {tmp}/ok.jsonl --max-rejected 2", {}, 2, "max-rejected"),
    ("replay {tmp}/ok.csv --column-map x=event_id --dry-run", {}, 2, "no column 'x'"),
    ("replay {tmp}/ok.jsonl --bootstrap-servers 127.0.0.1:1", {}, 1, "cannot reach Kafka"),
    ("profile check {tmp}/missing.toml", {}, 2, "missing.toml"),
    ("dlq summary --since yesterday", {}, 2, "yesterday"),
    ("dlq export --out /missing/dir/f.jsonl --bootstrap-servers 127.0.0.1:1", {}, 2, "/missing"),
    ("dlq summary --bootstrap-servers 127.0.0.1:1", {}, 1, "cannot reach Kafka"),
    ("gateway --port 99999", {}, 2, "port"),
    ("report --range 5x --out {tmp}/r", {}, 2, "5x"),
    ("report --at yesterday --out {tmp}/r", {}, 2, "yesterday"),
    ("report --prometheus-url http://127.0.0.1:1 --out {tmp}/r", {}, 1, "127.0.0.1:1"),
    ("stack up --kafka-port 0 --data-dir {tmp}/stack", {}, 2, "kafka"),
    ("demo --rate fast --data-dir {tmp}/demo", {}, 2, "fast"),
    ("dashboards push --url http://127.0.0.1:1", {}, 2, "token"),
]


@pytest.mark.parametrize(("line", "env", "status", "word"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_flag_setting_or_path_is_one_line_and_an_exit_status(
    tmp_path: Path, line: str, env: dict[str, str], status: int, word: str
) -> None:
    (tmp_path / "ok.jsonl").write_text("{}\n", "utf-8")
    (tmp_path / "ok.csv").write_text("a,b\n1,2\n", "utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    environment.update(CASHLESS_PSEUDONYM_KEY=KEY, **env)
    args = line.format(tmp=tmp_path).split()
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    said = done.stderr + done.stdout
    assert done.returncode == status, said
    assert "Traceback" not in said
    errors = [e for e in done.stderr.splitlines() if e.lower().startswith("error")]
    assert len(errors) == 1, done.stderr
    assert word.lower() in errors[0].lower(), errors[0]
