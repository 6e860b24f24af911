"""One run of `make bench`: its plan, its stack and processes, and what it has measured so far."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.harness.local_stack import child_env, stack_settings
from bench.harness.paths import ROOT
from bench.harness.processes import Processes
from bench.harness.progress import say
from bench.pipeline.plan import Plan
from ops.stack import Stack

if TYPE_CHECKING:
    from bench.pipeline.dataset import Dataset

__all__ = ["Bench"]


@dataclass
class Bench:
    """One run of the benchmark: the stack, the processes, and what was measured."""

    plan: Plan
    work: Path
    peer_python: Path | None
    only: set[str]
    results: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.work / "logs")
        settings = stack_settings(self.work)
        self.stack = Stack(settings)
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"
        self.http = httpx.Client()

    def env(self, dataset: Dataset | None = None) -> dict[str, str]:
        return child_env(self.bootstrap, None if dataset is None else dataset.districts)

    def python(
        self, args: Sequence[str | Path], what: str, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """`python ARGS` in the checkout with the run's environment, to its end; raise naming
        `what` when it fails."""
        done = subprocess.run(
            [sys.executable, *map(str, args)],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
        return done

    def cashless(
        self, *args: str | Path, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        return self.python(["-m", "cli", *args], f"cashless {args[0]}", timeout)

    def measure(self, what: str, run: Callable[[], Any]) -> Any:
        """Run one measurement; a failure is recorded and the benchmark goes on."""
        try:
            return run()
        except Exception as exc:  # a broken contender must not stop the others
            message = f"{what}: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            say(f"FAILED {message}")
            return None

    def close(self) -> None:
        self.procs.stop_all()
        self.http.close()
        with contextlib.suppress(Exception):
            self.stack.down(purge=True, progress=say)
