"""Session fixtures: the real local stack (Kafka, Prometheus, Alertmanager) on free ports."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from cashless.settings import StackSettings
from ops.stack import Stack
from ops.stack.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
JAR_CACHE = ROOT / ".cashless" / "cache"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `check` until it returns a truthy value, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass(frozen=True)
class RunningStack:
    """Where the session's servers listen, and the port reserved for a scrape target."""

    stack: Stack
    bootstrap: str
    prometheus_url: str
    alertmanager_url: str
    target_port: int


def stack_settings(data_dir: Path, target_port: int | None = None) -> StackSettings:
    """Settings for a stack on free ports under `data_dir`, sharing the checkout's jar cache."""
    return StackSettings(
        data_dir=data_dir,
        cache_dir=JAR_CACHE,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        worker_targets=f"127.0.0.1:{target_port or free_port()}",
        gateway_targets=f"127.0.0.1:{free_port()}",
        scrape_interval="1s",
    )


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The real stack for the whole test session, stopped and purged at the end."""
    target_port = free_port()
    with started_stack(stack_settings(tmp_path_factory.mktemp("stack"), target_port)) as running:
        yield running


@contextmanager
def started_stack(settings: StackSettings) -> Iterator[RunningStack]:
    """A stack started with `settings`; its first worker target is the reserved target port."""
    target_port = int(settings.worker_targets.split(",")[0].rsplit(":", 1)[1])
    stack = Stack(settings)
    try:
        stack.up()
        yield RunningStack(
            stack=stack,
            bootstrap=f"127.0.0.1:{settings.kafka_port}",
            prometheus_url=f"http://127.0.0.1:{settings.prometheus_port}",
            alertmanager_url=f"http://127.0.0.1:{settings.alertmanager_port}",
            target_port=target_port,
        )
    finally:
        stack.down(purge=True)
