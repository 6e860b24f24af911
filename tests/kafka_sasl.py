"""A second, throw-away Kafka broker whose only client listener is SASL_PLAINTEXT (PLAIN).

It runs the same jars and base configuration as the local stack (`ops/kafka/server.properties`,
`ops.stack.Stack` resolves the jars), with the client listener switched to SASL and two users:
`admin` (the broker's own inter-broker identity) and the one the test asks for. It binds to
127.0.0.1 on free ports, and is stopped by process group at the end.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from cashless.settings import KafkaSettings
from ops.stack import CONFIG_DIR, Stack
from tests.conftest import free_port, stack_settings, wait_for

__all__ = ["SaslBroker", "sasl_broker"]

_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclass(frozen=True)
class SaslBroker:
    """Where the SASL broker listens and the one client user it accepts."""

    bootstrap: str
    username: str
    password: str = field(repr=False)
    log: Path = field(repr=False)

    def settings(self, password: str | None = None, **extra: object) -> KafkaSettings:
        """Kafka settings of a client of this broker (with another password, if given)."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username=self.username,
            kafka_sasl_password=SecretStr(self.password if password is None else password),
            **extra,  # type: ignore[arg-type]
        )

    def env(self) -> dict[str, str]:
        """The `CASHLESS_*` environment a project command needs to use this broker."""
        return {
            "CASHLESS_BOOTSTRAP_SERVERS": self.bootstrap,
            "CASHLESS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CASHLESS_KAFKA_SASL_MECHANISM": "PLAIN",
            "CASHLESS_KAFKA_SASL_USERNAME": self.username,
            "CASHLESS_KAFKA_SASL_PASSWORD": self.password,
        }


def _properties(port: int, controller_port: int, data: Path, password: str, admin: str) -> str:
    base = (CONFIG_DIR / "kafka" / "server.properties").read_text("utf-8")
    text = base.format(port=port, controller_port=controller_port, log_dirs=data)
    overrides = {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
            f'{_PLAIN} required username="admin" password="{admin}" '
            f'user_admin="{admin}" user_cashless="{password}";'
        ),
    }
    lines = [
        line
        for line in text.splitlines()
        if line.split("=", 1)[0].strip() not in overrides or line.lstrip().startswith("#")
    ]
    lines += [f"{key}={value}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


def _ready(broker: SaslBroker) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=broker.bootstrap,
            request_timeout_ms=3000,
            **broker.settings().kafka_python_config(),
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        return bool(admin.describe_cluster().get("brokers"))
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


@contextmanager
def sasl_broker(directory: Path) -> Iterator[SaslBroker]:
    """Start the SASL broker under `directory`; yield it once it answers; stop it at the end."""
    stack = Stack(stack_settings(directory))  # its jars, Java options and data layout
    stack.fetch_kafka()
    kafka_dir = directory / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    broker = SaslBroker(
        bootstrap=f"127.0.0.1:{port}",
        username="cashless",
        password=f"sasl-{uuid.uuid4().hex}",
        log=kafka_dir / "console.log",
    )
    properties = kafka_dir / "server.properties"
    properties.write_text(
        _properties(port, controller_port, kafka_dir / "data", broker.password, uuid.uuid4().hex)
    )
    properties.chmod(0o600)
    java = stack._java_prefix()  # the stack's own Java command line, pointed at this directory
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    subprocess.run(
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            f"--cluster-id={cluster_id}",
            "-c",
            str(properties),
        ],
        check=True,
        capture_output=True,
    )
    with broker.log.open("wb") as out:
        process = subprocess.Popen(
            [*java, "kafka.Kafka", str(properties)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            assert process.poll() is None, broker.log.read_text(errors="replace")[-3000:]
            return _ready(broker)

        wait_for(up, timeout=120, what="the SASL broker to answer")
        yield broker
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
