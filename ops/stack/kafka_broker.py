"""The stack's Kafka: its jars from Maven Central, its formatted storage, its Java command line,
and whether it answers."""

from __future__ import annotations

import base64
import logging
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cashless.settings import StackSettings
from ops.stack.config_files import KAFKA_LOG4J, KAFKA_POM, KAFKA_SERVER_PROPERTIES
from ops.stack.errors import StackError

__all__ = ["KAFKA_VERSION", "KafkaBroker", "check_java", "kafka_metadata_ready"]

logger = logging.getLogger(__name__)


def _pom_kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text("utf-8"))
    if match is None:
        raise RuntimeError(f"{KAFKA_POM} does not pin <kafka.version>")
    return match.group(1)


KAFKA_VERSION = _pom_kafka_version()


class KafkaBroker:
    """The single-node KRaft broker of one stack: `directory` holds its configuration, cluster
    id, log dirs and logs; `libs` its jars."""

    def __init__(self, settings: StackSettings, directory: Path, cache_dir: Path) -> None:
        self.settings = settings
        self.directory = directory
        self.cache_dir = cache_dir
        self.libs = cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    def fetch(self, progress: Callable[[str], None] = logger.info) -> Path:
        """Resolve the broker's jars from Maven Central into the cache, once."""
        done = self.libs / ".complete"
        if done.exists():
            return self.libs
        if shutil.which("mvn") is None:
            raise StackError("Maven (mvn) is not installed; run `make install`")
        progress(f"resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central (first use)")
        command = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            f"-Dmaven.repo.local={self.cache_dir / 'm2'}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={self.libs}",
            "-DincludeScope=runtime",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise StackError("Maven could not resolve the Kafka jars:\n" + "\n".join(tail))
        done.touch()
        return self.libs

    def prepare(self) -> None:
        """Write server.properties for the stack's ports; format the storage the first time."""
        kafka_dir = self.directory
        kafka_dir.mkdir(parents=True, exist_ok=True)
        properties = KAFKA_SERVER_PROPERTIES.read_text("utf-8").format(
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
            *self.java_prefix(),
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

    def java_prefix(self) -> list[str]:
        """`java` with the broker's heap, GC, logging and class path, before the main class."""
        return [
            "java",
            f"-Xms{self.settings.kafka_heap}",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
            f"-Dkafka.logs.dir={self.directory / 'logs'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def command(self) -> list[str]:
        return [*self.java_prefix(), "kafka.Kafka", str(self.directory / "server.properties")]

    def ready(self) -> bool:
        return kafka_metadata_ready(f"127.0.0.1:{self.settings.kafka_port}")


def check_java() -> None:
    """Raise unless Java 17 or newer is on the PATH."""
    if shutil.which("java") is None:
        raise StackError("Java is not installed (Kafka needs Java 17 or newer); run `make install`")
    major = _java_major()
    if major < 17:
        raise StackError(f"Kafka {KAFKA_VERSION} needs Java 17 or newer, found Java {major}")


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


def _java_major() -> int:
    result = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        raise StackError(f"cannot tell the Java version from: {result.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major
