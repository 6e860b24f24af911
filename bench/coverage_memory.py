"""Memory of one worker holding N account holders (and payments), and its restart time.

    .venv/bin/python -m bench.coverage_memory 1000000
    .venv/bin/python -m bench.coverage_memory 2000000 --segments 500 --days 30

Starts the stack on free ports in a temporary directory, writes N account openings (one per
holder, `bench/accounts_load.py`), sends them with `cashless replay`, then runs `cashless worker`
until its /metrics counts N holders, and prints its RSS, its peak RSS, the size of its local
state, and the time to catch up; then restarts the worker on the same local store and times it
again, and once more on an emptied store (all state from the changelogs). With `--segments S`,
the worker also gets S market segments (a taxonomy of its own, `CASHLESS_SEGMENTS_FILE`) with a
payment every 10 minutes in each for `--days` days (`bench.ledger_memory`), replayed after the
accounts, and runs until it has applied every one of them too. Everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.accounts_load import main as write_accounts
from bench.harness.local_stack import KEY, stack_settings
from bench.harness.paths import ROOT
from bench.harness.processes import free_port
from bench.ledger_memory import write_inputs
from ops.stack import Stack


def counted(port: int, name: str) -> float | None:
    """The sum of the samples of metric `name` on the worker's /metrics."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def disk_mb(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) // 1024**2


def run_worker(
    env: dict[str, str], state: Path, port: int, count: int, payments: int, log: Path
) -> dict[str, object]:
    """Run a worker until its /metrics counts `count` holders and `payments` payments; its local
    store is named by the app id and the port, so the same port finds the same store again."""
    command = [sys.executable, "-m", "cli", "worker", "--web-port", str(port)]
    command += ["--state-dir", str(state), "--app-id", "coverage-bench"]
    started = time.monotonic()
    with log.open("ab") as out:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while (counted(port, "cashless_epayment_account_holders") or 0) < count or (
            payments and (counted(port, "cashless_payments_total") or 0) < payments
        ):
            if worker.poll() is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}; see {log}")
            time.sleep(1)
        seconds = time.monotonic() - started
        return {"seconds_to_all_counted": round(seconds, 1), **status(worker.pid)}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("holders", type=int, help="number of account holders")
    parser.add_argument("--segments", type=int, default=0, help="market segments with payments")
    parser.add_argument("--days", type=int, default=30, help="days of payments (with --segments)")
    args = parser.parse_args()
    count = args.holders
    work = Path(tempfile.mkdtemp(prefix="cashless-coverage-"))
    settings = stack_settings(work)
    stack = Stack(settings)
    env = dict(os.environ)
    env.update(
        CASHLESS_BOOTSTRAP_SERVERS=f"127.0.0.1:{settings.kafka_port}",
        CASHLESS_PSEUDONYM_KEY=KEY,
        CASHLESS_TOPIC_PREFIX="coverage.",
    )
    try:
        print(f"starting the stack in {work}", flush=True)
        stack.up()
        data = work / "accounts.jsonl"
        write_accounts(count, str(data))
        print(f"replaying {count:,} account events", flush=True)
        started = time.monotonic()
        replay = [sys.executable, "-m", "cli", "replay", str(data), "--no-progress"]
        subprocess.run(replay, cwd=ROOT, env=env, check=True)
        print(f"  replayed in {time.monotonic() - started:.0f} s", flush=True)
        payments = 0
        if args.segments:
            segments_file, events_file = write_inputs(work, args.segments, args.days, every=10)
            env["CASHLESS_SEGMENTS_FILE"] = str(segments_file)
            payments = args.segments * args.days * 24 * 6
            print(f"replaying {payments:,} payments in {args.segments} segments", flush=True)
            started = time.monotonic()
            replay = [sys.executable, "-m", "cli", "replay", str(events_file)]
            subprocess.run([*replay, "--no-progress"], cwd=ROOT, env=env, check=True)
            events_file.unlink()
            print(f"  replayed in {time.monotonic() - started:.0f} s", flush=True)
        state, port, log = work / "worker", free_port(), work / "worker.log"
        first = run_worker(env, state, port, count, payments, log)
        first["state_mb"] = disk_mb(state)
        print(f"first run: {first}", flush=True)
        again = run_worker(env, state, port, count, payments, log)
        print(f"restart on its local store: {again}", flush=True)
        shutil.rmtree(state)
        empty = run_worker(env, state, port, count, payments, log)
        print(f"restart on an emptied local store (from the changelogs): {empty}", flush=True)
        runs = {"first": first, "restart": again, "restart_emptied_store": empty}
        print(
            json.dumps({"holders": count, "segments": args.segments, "payments": payments, **runs})
        )
    finally:
        stack.down(purge=True)


if __name__ == "__main__":
    main()
