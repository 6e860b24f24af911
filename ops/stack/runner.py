"""`Stack`: the three servers of the local stack started, stopped and reported as one."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cashless.settings import StackSettings
from cashless.storage import check_data_dir
from ops.stack import monitoring
from ops.stack.errors import StackError
from ops.stack.kafka_broker import KafkaBroker, check_java
from ops.stack.processes import Supervisor, check_port_free

__all__ = ["Component", "ComponentStatus", "Stack"]

_MARKER = ".cashless-stack"
# Room for Kafka's logs and indexes and Prometheus's TSDB and WAL of a local run.
_MIN_FREE_BYTES = 256 * 1024**2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Component:
    """One server of the stack: how to start it, where it listens, how to tell it is ready."""

    name: str
    port: int
    command: Callable[[], list[str]]
    ready: Callable[[], bool]
    url: str


@dataclass(frozen=True)
class ComponentStatus:
    """What `stack status` reports for one component."""

    name: str
    pid: int | None
    ready: bool
    url: str

    @property
    def running(self) -> bool:
        """True when a process started by this stack is alive."""
        return self.pid is not None


class Stack:
    """Starts, stops and reports the three servers of the local stack."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()
        self.cache_dir = (settings.cache_dir or settings.data_dir / "cache").resolve()
        self._kafka = KafkaBroker(settings, self.data_dir / "kafka", self.cache_dir)
        self.kafka_libs = self._kafka.libs
        self._processes = Supervisor(self.data_dir)
        s = settings
        prometheus_dir = self.data_dir / "prometheus"
        alertmanager_dir = self.data_dir / "alertmanager"
        self.components = (
            Component(
                "kafka",
                s.kafka_port,
                self._kafka.command,
                self._kafka.ready,
                f"127.0.0.1:{s.kafka_port}",
            ),
            Component(
                "prometheus",
                s.prometheus_port,
                lambda: monitoring.prometheus_command(s, prometheus_dir),
                lambda: monitoring.http_ready(s.prometheus_port),
                f"http://127.0.0.1:{s.prometheus_port}",
            ),
            Component(
                "alertmanager",
                s.alertmanager_port,
                lambda: monitoring.alertmanager_command(s, alertmanager_dir),
                lambda: monitoring.http_ready(s.alertmanager_port),
                f"http://127.0.0.1:{s.alertmanager_port}",
            ),
        )

    def up(self, progress: Callable[[str], None] = logger.info) -> list[ComponentStatus]:
        """Start what is not running, wait until every component is ready; idempotent."""
        check_java()
        monitoring.check_binaries()
        check_data_dir(self.data_dir, "stack", min_free_bytes=_MIN_FREE_BYTES)
        (self.data_dir / _MARKER).touch()
        to_start = [c for c in self.components if self._processes.pid(c.name) is None]
        for component in to_start:
            check_port_free(component.name, component.port)
        if any(c.name == "kafka" for c in to_start):
            self.fetch_kafka(progress)
            self._prepare_kafka()
        if any(c.name == "prometheus" for c in to_start):
            monitoring.prepare_prometheus(self.settings, self.data_dir / "prometheus")
        for component in to_start:
            progress(f"starting {component.name}")
            self._processes.spawn(component.name, component.command())
        deadline = time.monotonic() + self.settings.ready_timeout_seconds
        for component in self.components:
            self._wait_ready(component, deadline)
            progress(f"{component.name} ready at {component.url}")
        return self.status()

    def down(self, purge: bool = False, progress: Callable[[str], None] = logger.info) -> None:
        """Stop the processes this stack started; with `purge`, delete the data directory too."""
        for component in reversed(self.components):
            self.stop(component.name, progress)
        if purge and self.data_dir.exists():
            if not (self.data_dir / _MARKER).exists():
                raise StackError(
                    f"refusing to purge {self.data_dir}: it has no {_MARKER} marker, "
                    "so it was not created by `cashless stack up`"
                )
            shutil.rmtree(self.data_dir)
            progress(f"deleted {self.data_dir}")

    def stop(self, name: str, progress: Callable[[str], None] = logger.info) -> None:
        """Stop one component this stack started, keeping its state; `up` starts it again."""
        if name not in {c.name for c in self.components}:
            raise StackError(f"no component named {name!r} in the stack")
        self._processes.stop(name, progress)

    def status(self) -> list[ComponentStatus]:
        """The state of each component: its pid when running, and whether it answers as ready."""
        result = []
        for component in self.components:
            pid = self._processes.pid(component.name)
            ready = pid is not None and component.ready()
            result.append(ComponentStatus(component.name, pid, ready, component.url))
        return result

    def fetch_kafka(self, progress: Callable[[str], None] = logger.info) -> Path:
        """Resolve the broker's jars from Maven Central into the cache, once."""
        return self._kafka.fetch(progress)

    def _prepare_kafka(self) -> None:
        self._kafka.prepare()

    def _java_prefix(self) -> list[str]:
        """The broker's Java command line before its main class (the secure test broker's)."""
        return self._kafka.java_prefix()

    def _wait_ready(self, component: Component, deadline: float) -> None:
        name = component.name
        while True:
            if not self._processes.running(name):
                raise StackError(
                    f"{name} exited during start; see {self._processes.output(name)}:\n"
                    + self._processes.tail(name)
                )
            if component.ready():
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{name} did not become ready within "
                    f"{self.settings.ready_timeout_seconds:.0f} s"
                )
            time.sleep(0.2)
