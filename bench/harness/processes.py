"""The processes a run starts, each with its log file, all stopped at the end; bounded waits."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench.harness.paths import ROOT
from ops.stack.ports import free_port

__all__ = ["Proc", "Processes", "free_port", "interrupt_on_sigterm", "wait_until"]


class Processes:
    """Every subprocess the benchmark starts, so that all of them are stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, command: Sequence[str | Path], env: dict[str, str]) -> Proc:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [str(c) for c in command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.running.append(popen)
        return Proc(name, popen, log)

    def stop(self, proc: Proc, grace: float = 15.0) -> None:
        popen = proc.popen
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        with contextlib.suppress(ValueError):
            self.running.remove(popen)

    def stop_all(self) -> None:
        for popen in list(self.running):
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        self.running.clear()


@dataclass
class Proc:
    """A started subprocess and its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text("utf-8", errors="replace")[-chars:]

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads) from /proc."""
        stat = Path(f"/proc/{self.popen.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """VmHWM (peak resident set size) from /proc."""
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns a truthy value; raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def interrupt_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so that a run stops all it started, as on Ctrl-C."""

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
