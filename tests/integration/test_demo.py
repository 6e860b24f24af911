"""`cashless demo`, as `make demo` runs it: its own stack on free ports, history, a worker, the live
simulator, the addresses it prints, and the report it rewrites every minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops.stack.ports import free_port
from tests.conftest import JAR_CACHE, ROOT

pytestmark = pytest.mark.integration


def test_the_demo_runs_the_pipeline_and_writes_the_report(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    worker_port = free_port()
    env = dict(os.environ)
    env.update(
        CASHLESS_KAFKA_PORT=str(free_port()),
        CASHLESS_KAFKA_CONTROLLER_PORT=str(free_port()),
        CASHLESS_PROMETHEUS_PORT=str(free_port()),
        CASHLESS_ALERTMANAGER_PORT=str(free_port()),
        CASHLESS_WORKER_TARGETS=f"127.0.0.1:{worker_port}",
        CASHLESS_GATEWAY_TARGETS=f"127.0.0.1:{free_port()}",
        CASHLESS_CACHE_DIR=str(JAR_CACHE),
        CASHLESS_SCRAPE_INTERVAL="1s",
    )
    demo = [sys.executable, "-m", "cli", "demo", "--data-dir", str(data)]
    try:
        result = subprocess.run(
            [*demo, "--duration", "75", "--history-days", "2", "--worker-port", str(worker_port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        page = (data / "report" / "index.html").resolve()
        assert f"report           {page.as_uri()}" in result.stderr
        assert f"worker metrics   http://127.0.0.1:{worker_port}/metrics" in result.stderr
        applied = [
            int(line.split()[2].replace(",", ""))
            for line in result.stderr.splitlines()
            if line.startswith("payments applied")
        ]
        assert applied, result.stderr[-3000:]
        assert applied[-1] > 0
        report = json.loads((data / "report" / "report.json").read_text("utf-8"))
        assert page.stat().st_size > 100_000
        (share,) = [f["value"] for f in report["figures"] if f["name"] == "city_noncash_share"]
        assert share is not None, "the minute's report shows the demo's numbers"
        assert 0 < share < 1
    finally:
        subprocess.run(
            [sys.executable, "-m", "cli", "stack", "down", "--purge", "--data-dir", str(data)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
