"""The local stack without Docker: a single-node Kafka (KRaft), Prometheus and Alertmanager.

Kafka runs from Maven Central jars on the machine's Java; Prometheus and Alertmanager are the
Debian packages. Everything binds to 127.0.0.1 and keeps its state under one data directory:

    <data_dir>/.cashless-stack        marker: this directory belongs to the stack (purge checks it)
    <data_dir>/cache/kafka-<v>/libs   the broker's jars, resolved by Maven (<data_dir>/cache/m2)
    <data_dir>/kafka/                 server.properties, cluster.id, log dirs, server.log, pid
    <data_dir>/prometheus/            generated prometheus.yml, TSDB, pid
    <data_dir>/alertmanager/          silences and notification log, pid

Processes are tracked by pid files and stopped by pid, never by name; a pid file whose process
is gone, or whose command line does not name this data directory, is stale and ignored.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from cashless.errors import CashlessError
from cashless.settings import StackSettings
from cashless.storage import check_data_dir

__all__ = [
    "CONFIG_DIR",
    "KAFKA_VERSION",
    "Component",
    "ComponentStatus",
    "Stack",
    "StackError",
]

CONFIG_DIR = Path(__file__).resolve().parent
_POM = CONFIG_DIR / "kafka" / "pom.xml"
_LOG4J = CONFIG_DIR / "kafka" / "log4j2.yaml"
_SERVER_PROPERTIES = CONFIG_DIR / "kafka" / "server.properties"
_PROMETHEUS_YML = CONFIG_DIR / "prometheus" / "prometheus.yml"
_RULES_DIR = CONFIG_DIR / "prometheus" / "rules"
_ALERTMANAGER_YML = CONFIG_DIR / "alertmanager" / "alertmanager.yml"
_MARKER = ".cashless-stack"
_STOP_GRACE_SECONDS = 30.0
# Room for Kafka's logs and indexes and Prometheus's TSDB and WAL of a local run.
_MIN_FREE_BYTES = 256 * 1024**2

logger = logging.getLogger(__name__)


def _pom_kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", _POM.read_text("utf-8"))
    if match is None:
        raise RuntimeError(f"{_POM} does not pin <kafka.version>")
    return match.group(1)


KAFKA_VERSION = _pom_kafka_version()


class StackError(CashlessError):
    """The stack cannot be started, stopped or inspected as asked."""


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
        self.kafka_libs = self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"
        # The processes this object started; see _running.
        self._spawned: dict[str, subprocess.Popen[bytes]] = {}
        s = settings
        self.components = (
            Component(
                "kafka",
                s.kafka_port,
                self._kafka_command,
                self._kafka_ready,
                f"127.0.0.1:{s.kafka_port}",
            ),
            Component(
                "prometheus",
                s.prometheus_port,
                self._prometheus_command,
                lambda: _http_ready(s.prometheus_port),
                f"http://127.0.0.1:{s.prometheus_port}",
            ),
            Component(
                "alertmanager",
                s.alertmanager_port,
                self._alertmanager_command,
                lambda: _http_ready(s.alertmanager_port),
                f"http://127.0.0.1:{s.alertmanager_port}",
            ),
        )

    # -- public operations -------------------------------------------------------------------

    def up(self, progress: Callable[[str], None] = logger.info) -> list[ComponentStatus]:
        """Start what is not running, wait until every component is ready; idempotent."""
        self._check_tools()
        check_data_dir(self.data_dir, "stack", min_free_bytes=_MIN_FREE_BYTES)
        (self.data_dir / _MARKER).touch()
        to_start = [c for c in self.components if self._pid(c.name) is None]
        for component in to_start:
            _check_port_free(component)
        if any(c.name == "kafka" for c in to_start):
            self.fetch_kafka(progress)
            self._prepare_kafka()
        if any(c.name == "prometheus" for c in to_start):
            self._prepare_prometheus()
        for component in to_start:
            progress(f"starting {component.name}")
            self._spawn(component)
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
        pid = self._pid(name)
        if pid is not None:
            progress(f"stopping {name} (pid {pid})")
            _stop(pid)
        self._pid_file(name).unlink(missing_ok=True)
        process = self._spawned.pop(name, None)
        if process is not None:
            process.poll()  # reap it

    def status(self) -> list[ComponentStatus]:
        """The state of each component: its pid when running, and whether it answers as ready."""
        result = []
        for component in self.components:
            pid = self._pid(component.name)
            ready = pid is not None and component.ready()
            result.append(ComponentStatus(component.name, pid, ready, component.url))
        return result

    def fetch_kafka(self, progress: Callable[[str], None] = logger.info) -> Path:
        """Resolve the broker's jars from Maven Central into the cache, once."""
        done = self.kafka_libs / ".complete"
        if done.exists():
            return self.kafka_libs
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is not installed; run `make install`")
        progress(f"resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central (first use)")
        command = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(_POM),
            f"-Dmaven.repo.local={self.cache_dir / 'm2'}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.kafka_libs}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise StackError("Maven could not resolve the Kafka jars:\n" + "\n".join(tail))
        done.touch()
        return self.kafka_libs

    # -- Kafka ---------------------------------------------------------------------------------

    @property
    def _kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    def _prepare_kafka(self) -> None:
        kafka_dir = self._kafka_dir
        kafka_dir.mkdir(parents=True, exist_ok=True)
        properties = _SERVER_PROPERTIES.read_text("utf-8").format(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            log_dirs=kafka_dir / "data",
        )
        (kafka_dir / "server.properties").write_text(properties, "utf-8")
        if (kafka_dir / "data" / "meta.properties").exists():
            return
        cluster_id_file = kafka_dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            cluster_id_file.write_text(cluster_id, "utf-8")
        command = [
            *self._java_prefix(),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--ignore-formatted",
            # `=` form: a cluster id may start with "-", which the parser would take for a flag
            f"--cluster-id={cluster_id_file.read_text('utf-8').strip()}",
            "-c",
            str(kafka_dir / "server.properties"),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(
                f"formatting Kafka storage failed:\n{(result.stdout + result.stderr).strip()}"
            )

    def _java_prefix(self) -> list[str]:
        return [
            "java",
            f"-Xms{self.settings.kafka_heap}",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={_LOG4J}",
            f"-Dkafka.logs.dir={self._kafka_dir / 'logs'}",
            "-cp",
            f"{self.kafka_libs}/*",
        ]

    def _kafka_command(self) -> list[str]:
        return [*self._java_prefix(), "kafka.Kafka", str(self._kafka_dir / "server.properties")]

    def _kafka_ready(self) -> bool:
        return kafka_metadata_ready(f"127.0.0.1:{self.settings.kafka_port}")

    # -- Prometheus and Alertmanager -----------------------------------------------------------

    def _prepare_prometheus(self) -> None:
        directory = self.data_dir / "prometheus"
        directory.mkdir(parents=True, exist_ok=True)
        config = local_prometheus_config(self.settings)
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")

    def _prometheus_command(self) -> list[str]:
        directory = self.data_dir / "prometheus"
        return [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.settings.prometheus_port}",
            "--web.enable-lifecycle",
            # After a restart Prometheus restores the `for:` clock only of alerts whose `for:` is at
            # least this grace period (default 10m). Below it, a firing CashlessWorkerDown (2m)
            # went back to pending (tests/integration/test_faults.py); one with `for: 5m` would
            # outlast the ~4 minutes Alertmanager keeps an alert that is not re-sent, and be
            # resolved and notified again: a flap.
            "--rules.alert.for-grace-period=1m",
            "--log.level=warn",
        ]

    def _alertmanager_command(self) -> list[str]:
        directory = self.data_dir / "alertmanager"
        directory.mkdir(parents=True, exist_ok=True)
        return [
            "prometheus-alertmanager",
            f"--config.file={_ALERTMANAGER_YML}",
            f"--storage.path={directory}",
            f"--web.listen-address=127.0.0.1:{self.settings.alertmanager_port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    # -- processes -----------------------------------------------------------------------------

    def _check_tools(self) -> None:
        if shutil.which("java") is None:
            raise StackError(
                "Java is not installed (Kafka needs Java 17 or newer); run `make install`"
            )
        major = _java_major()
        if major < 17:
            raise StackError(f"Kafka {KAFKA_VERSION} needs Java 17 or newer, found Java {major}")
        for binary in ("prometheus", "prometheus-alertmanager"):
            if shutil.which(binary) is None:
                raise StackError(
                    f"{binary} is not installed; run `make install` "
                    "(Debian packages prometheus and prometheus-alertmanager)"
                )

    def _pid_file(self, name: str) -> Path:
        return self.data_dir / name / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        """The pid of our running process for `name`, or None (a stale pid file is ignored)."""
        try:
            pid = int(self._pid_file(name).read_text("utf-8").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if str(self.data_dir).encode() not in cmdline:
            return None
        return pid if _alive(pid) else None

    def _spawn(self, component: Component) -> None:
        directory = self.data_dir / component.name
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f"{component.name}.out", "ab") as out:
            process = subprocess.Popen(
                component.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=directory,
                start_new_session=True,
            )
        self._pid_file(component.name).write_text(str(process.pid), "utf-8")
        self._spawned[component.name] = process

    def _running(self, name: str) -> bool:
        """Whether the component's process is alive.

        A process this object has just started is asked directly: while it is still being
        exec'd, /proc/<pid>/cmdline reads empty, so `_pid` would take it for a stale pid (seen
        when Kafka alone was restarted: the first check then follows the spawn at once).
        """
        process = self._spawned.get(name)
        if process is not None:
            return process.poll() is None
        return self._pid(name) is not None

    def _wait_ready(self, component: Component, deadline: float) -> None:
        while True:
            if not self._running(component.name):
                raise StackError(
                    f"{component.name} exited during start; see "
                    f"{self.data_dir / component.name / (component.name + '.out')}:\n"
                    + _tail(self.data_dir / component.name / f"{component.name}.out")
                )
            if component.ready():
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"{component.name} did not become ready within "
                    f"{self.settings.ready_timeout_seconds:.0f} s"
                )
            time.sleep(0.2)


def local_prometheus_config(settings: StackSettings) -> dict[str, object]:
    """The compose Prometheus config, rewritten for 127.0.0.1 and the stack's ports."""
    config: dict[str, Any] = yaml.safe_load(_PROMETHEUS_YML.read_text("utf-8"))
    config["rule_files"] = [str(_RULES_DIR / "*.yml")]
    config["alerting"] = {
        "alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]}
        ]
    }
    targets = {
        "cashless-worker": settings.worker_targets,
        "cashless-gateway": settings.gateway_targets,
        "prometheus": f"127.0.0.1:{settings.prometheus_port}",
    }
    for job in config["scrape_configs"]:
        listed = [t.strip() for t in targets[job["job_name"]].split(",") if t.strip()]
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": listed}]
    if settings.scrape_interval is not None:
        config["global"]["scrape_interval"] = settings.scrape_interval
        config["global"]["evaluation_interval"] = settings.scrape_interval
    return config


def kafka_metadata_ready(bootstrap: str, timeout_seconds: float = 2.0) -> bool:
    """True when the broker at `bootstrap` answers a metadata request and names a controller."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_seconds).close()
    except OSError:
        return False  # not listening yet: skip the client, whose retries back off for seconds
    # Refused connections are the expected answer while the broker starts: not worth a log line.
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.setLevel(logging.CRITICAL)
    try:
        return _describe_cluster(KafkaAdminClient, KafkaError, bootstrap, timeout_seconds)
    finally:
        kafka_logger.setLevel(level)


def _describe_cluster(
    client: Any, error: type[Exception], bootstrap: str, timeout_seconds: float
) -> bool:
    KafkaAdminClient, KafkaError = client, error
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout_seconds * 1000),
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        cluster = admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def _http_ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _check_port_free(component: Component) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # A port left in TIME_WAIT by our own stopped server is free to listen on again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", component.port))
        except OSError:
            raise StackError(
                f"port {component.port} on 127.0.0.1 is in use by another process, so "
                f"{component.name} cannot start; stop that process or choose another port "
                f"(--{component.name}-port)"
            ) from None


def _java_major() -> int:
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        raise StackError(f"cannot tell the Java version from: {result.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in _until(_STOP_GRACE_SECONDS):
        if not _alive(pid):
            return
    logger.warning("pid %d did not stop within %.0f s; killing it", pid, _STOP_GRACE_SECONDS)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in _until(5.0):
        if not _alive(pid):
            return


def _until(seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(0.1)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"
