"""`cashless demo`: the whole pipeline live on one machine, in one command.

It brings the local stack up, loads 30 days of simulated history into Kafka (so every window and
trend has data), starts a stream worker, then keeps the simulator sending at a live rate, and
prints where to look and a status line until stopped (Ctrl-C, SIGTERM or `--duration`). Every
minute it rewrites the report (`cashless report`) into the stack's `report/` directory. The
worker and the simulator stop with it; the stack keeps running until `cashless stack down`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click
import httpx
from prometheus_client.parser import text_string_to_metric_families

from cashless.errors import CashlessError
from cashless.settings import StackSettings, settings_from
from cli.common import friendly_errors, stack_options
from ops.stack import Stack
from producers.simulate.pacing import parse_rate

__all__ = ["demo", "run_demo"]

_CASHLESS = [sys.executable, "-m", "cli"]
_REPORT_EVERY = 60.0  # seconds


@click.command()
@stack_options
@click.option("--rate", default="200/s", show_default=True, help="Live payment events per second.")
@click.option(
    "--history-days",
    type=click.IntRange(1, 365),
    default=30,
    show_default=True,
    help="Days of simulated history loaded first, so every window and trend has data.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    help="Stop after this many seconds [default: until Ctrl-C].",
)
@click.option("--worker-port", type=int, default=6066, show_default=True, help="Worker /metrics.")
@friendly_errors
def demo(
    rate: str, history_days: int, duration: float | None, worker_port: int, **flags: Any
) -> None:
    """Everything in one command: stack, simulated history, a worker and a live simulator."""
    parse_rate(rate)  # a bad rate is said now, not after the stack has started
    run_demo(
        settings_from(StackSettings, **flags),
        rate=rate,
        history_days=history_days,
        duration=duration,
        worker_port=worker_port,
        say=lambda message: click.echo(message, err=True),
    )


def run_demo(
    settings: StackSettings,
    *,
    rate: str,
    history_days: int,
    duration: float | None,
    worker_port: int,
    say: Callable[[str], None],
) -> None:
    """Run the demo until stopped; raise `CashlessError` when a part fails to start."""
    stack = Stack(settings)
    statuses = stack.up(progress=lambda m: say(f"… {m}"))
    kafka = statuses[0].url
    directory = stack.data_dir / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("CASHLESS_PSEUDONYM_KEY", secrets.token_hex(32))
    env["CASHLESS_BOOTSTRAP_SERVERS"] = kafka
    # The simulated population is scaled down; the worker divides by the same scaled table.
    worker_env = dict(
        env,
        CASHLESS_DISTRICTS_FILE=str(directory / "districts.csv"),
        CASHLESS_STATE_DIR=str(directory / "worker"),
    )
    say(f"… loading {history_days} days of simulated history into Kafka")
    _run(
        [
            "simulate",
            *("--days", str(history_days), "--events-per-day", "5000"),
            *("--districts-out", str(directory / "districts.csv"), "--no-truth"),
        ],
        env,
    )
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    report_dir = stack.data_dir / "report"
    report_args = [
        *("report", "--out", str(report_dir), "--prometheus-url", statuses[1].url),
        *("--alertmanager-url", statuses[2].url),
    ]
    report: subprocess.Popen[bytes] | None = None
    reported_at = -_REPORT_EVERY
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        processes["worker"] = _start(
            ["worker", "--web-port", str(worker_port)], worker_env, directory
        )
        processes["simulate"] = _start(
            ["simulate", "--rate", rate, "--days", str(history_days)], env, directory
        )
        metrics_url = f"http://127.0.0.1:{worker_port}/metrics"
        say(
            "\nThe pipeline is running:\n"
            f"  worker metrics   {metrics_url}\n"
            f"  Prometheus       {statuses[1].url}/graph?g0.expr=cashless_noncash_ratio\n"
            f"  Alertmanager     {statuses[2].url}\n"
            f"  Kafka            {kafka}   (topics payments.events, payments.accounts, "
            "payments.dlq)\n"
            f"  report           {(report_dir / 'index.html').resolve().as_uri()}   "
            "(rewritten every minute)\n"
            f"  logs             {directory}/\n"
            "Stop with Ctrl-C; the stack keeps running until `cashless stack down`.\n"
        )
        deadline = None if duration is None else time.monotonic() + duration
        while not stopping and (deadline is None or time.monotonic() < deadline):
            for name, process in processes.items():
                if process.poll() is not None:
                    raise CashlessError(
                        f"the {name} exited with status {process.returncode}; "
                        f"see {directory / (name + '.log')}"
                    )
            if (report is None or report.poll() is not None) and (
                time.monotonic() - reported_at >= _REPORT_EVERY
            ):
                report = _start(report_args, worker_env, directory)
                reported_at = time.monotonic()
            say(_status_line(metrics_url))
            time.sleep(5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if report is not None and report.poll() is None:
            report.wait(timeout=60)
        for process in reversed(processes.values()):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        say("worker and simulator stopped; the stack is still up (`cashless stack down`)")


def _run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [*_CASHLESS, *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise CashlessError(f"`cashless {' '.join(args)}` failed:\n{result.stderr.strip()}")


def _start(args: list[str], env: dict[str, str], directory: Path) -> subprocess.Popen[bytes]:
    log = directory / f"{args[0]}.log"
    with log.open("ab") as out:
        return subprocess.Popen(
            [*_CASHLESS, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _status_line(metrics_url: str) -> str:
    try:
        text = httpx.get(metrics_url, timeout=2).text
    except httpx.HTTPError:
        return "worker starting…"
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    applied = sum(v for (name, _), v in values.items() if name == "cashless_payments_total")
    city = values.get(("cashless_city_noncash_ratio", (("window", "1h"),)))
    coverage = values.get(("cashless_city_epayment_account_ratio", ()))
    share = "n/a" if city is None else f"{city:.1%}"
    accounts = "n/a" if coverage is None else f"{coverage:.1%}"
    return (
        f"payments applied {applied:,.0f} · city non-cash share (1h) {share} · "
        f"e-payment account coverage {accounts} (goal 50%)"
    )
