"""A second, throw-away Kafka broker whose only listener for clients is secured: SASL (PLAIN over
plaintext, or SCRAM-SHA-256/512 over plaintext or TLS), or TLS alone (`SSL`); with TLS it can also
require a client certificate (mutual TLS), which is the only identity a client has without SASL.

It runs the same jars and base configuration as the local stack (`ops/kafka/server.properties`,
`ops.stack.Stack` resolves the jars), with the client listener switched to SASL or to TLS. With
SASL there are two users: `admin` (the broker's own inter-broker identity, PLAIN) and the client
user, known to the broker only under the mechanism asked for (a PLAIN user in the JAAS
configuration, or a SCRAM credential written into the storage at format time). With TLS the
listener presents a self-signed certificate for 127.0.0.1 (`tests.tls`), which clients trust
through `CASHLESS_KAFKA_SSL_CAFILE`; a client certificate it requires is issued by that one.
It binds to 127.0.0.1 on free ports, and is stopped by process group at the end.
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
from typing import Literal

from pydantic import SecretStr

from cashless.settings import KafkaSettings
from ops.stack import CONFIG_DIR, Stack
from ops.stack.ports import free_port
from tests.conftest import stack_settings, wait_for
from tests.tls import self_signed, signed_by

__all__ = ["Mechanism", "SecureBroker", "secure_broker"]

Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SecureBroker:
    """Where the secured broker listens and the one client it accepts."""

    bootstrap: str
    username: str
    password: str = field(repr=False)
    log: Path = field(repr=False)
    mechanism: Mechanism | None = "PLAIN"  # None: no SASL, TLS alone
    cafile: Path | None = None  # the broker's certificate, when it speaks TLS
    # the client certificate and key the broker requires (mutual TLS), if it does
    client_cert: Path | None = None
    client_key: Path | None = None

    @property
    def secrets(self) -> list[str]:
        """What must never appear in a log or on `/metrics`: the SASL password, the client key."""
        found = [] if self.mechanism is None else [self.password]
        if self.client_key is not None:
            found.append(_key_body(self.client_key))
        return found

    @property
    def refusal(self) -> str:
        """What the broker answers a wrong password with."""
        if self.mechanism == "PLAIN":
            return "Invalid username or password"
        return f"invalid credentials with SASL mechanism {self.mechanism}"

    @property
    def protocol(self) -> Literal["SASL_PLAINTEXT", "SASL_SSL", "SSL"]:
        if self.mechanism is None:
            return "SSL"
        return "SASL_PLAINTEXT" if self.cafile is None else "SASL_SSL"

    def settings(self, password: str | None = None, **extra: object) -> KafkaSettings:
        """Kafka settings of a client of this broker (with another password, if given)."""
        fields: dict[str, object] = {
            "bootstrap_servers": self.bootstrap,
            "kafka_security_protocol": self.protocol,
            "kafka_ssl_cafile": self.cafile,
            "kafka_ssl_certfile": self.client_cert,
            "kafka_ssl_keyfile": self.client_key,
        }
        if self.mechanism is not None:
            fields |= {
                "kafka_sasl_mechanism": self.mechanism,
                "kafka_sasl_username": self.username,
                "kafka_sasl_password": SecretStr(self.password if password is None else password),
            }
        return KafkaSettings(**(fields | extra))  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The `CASHLESS_*` environment a project command needs to use this broker."""
        env = {
            "CASHLESS_BOOTSTRAP_SERVERS": self.bootstrap,
            "CASHLESS_KAFKA_SECURITY_PROTOCOL": self.protocol,
        }
        if self.mechanism is not None:
            env |= {
                "CASHLESS_KAFKA_SASL_MECHANISM": self.mechanism,
                "CASHLESS_KAFKA_SASL_USERNAME": self.username,
                "CASHLESS_KAFKA_SASL_PASSWORD": self.password,
            }
        if self.cafile is not None:
            env["CASHLESS_KAFKA_SSL_CAFILE"] = str(self.cafile)
        if self.client_cert is not None and self.client_key is not None:
            env["CASHLESS_KAFKA_SSL_CERTFILE"] = str(self.client_cert)
            env["CASHLESS_KAFKA_SSL_KEYFILE"] = str(self.client_key)
        return env


def _properties(
    port: int, controller_port: int, data: Path, broker: SecureBroker, admin: str, tls: _Tls | None
) -> str:
    base = (CONFIG_DIR / "kafka" / "server.properties").read_text("utf-8")
    text = base.format(port=port, controller_port=controller_port, log_dirs=data)
    protocol = broker.protocol
    listener = protocol.lower()
    overrides = {
        "listeners": f"{protocol}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"{protocol}://127.0.0.1:{port}",
        "listener.security.protocol.map": f"{protocol}:{protocol},CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": protocol,
    }
    if broker.mechanism is not None:
        plain_users = f'user_admin="{admin}"'
        if broker.mechanism == "PLAIN":
            plain_users += f' user_{broker.username}="{broker.password}"'
        overrides |= {
            "sasl.enabled.mechanisms": ",".join(sorted({"PLAIN", broker.mechanism})),
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            f"listener.name.{listener}.plain.sasl.jaas.config": (
                f'{_PLAIN} required username="admin" password="{admin}" {plain_users};'
            ),
        }
    if broker.mechanism not in ("PLAIN", None):
        overrides[f"listener.name.{listener}.{broker.mechanism.lower()}.sasl.jaas.config"] = (
            f"{_SCRAM} required;"
        )
    if tls is not None:  # PEM inline, continued over lines as Java properties allow
        overrides |= {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": _continued(tls.cert),
            "ssl.keystore.key": _continued(tls.key),
            # the broker talks to itself over the same listener, with its own certificate
            "ssl.truststore.type": "PEM",
            "ssl.truststore.certificates": _continued(tls.cert),
        }
        if tls.client_auth:  # per listener: Kafka ignores the broker-wide one on SASL_SSL
            # (on SSL the broker, talking to itself, presents its own certificate, which it trusts)
            overrides[f"listener.name.{listener}.ssl.client.auth"] = "required"
    lines = [
        line
        for line in text.splitlines()
        if line.split("=", 1)[0].strip() not in overrides or line.lstrip().startswith("#")
    ]
    lines += [f"{key}={value}" for key, value in overrides.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Tls:
    cert: str
    key: str
    client_auth: bool = False  # require a client certificate issued by `cert`


def _key_body(path: Path) -> str:
    """The base64 body of a PEM private key, as one would find it in a leaked log line."""
    lines = path.read_text().strip().splitlines()
    return "".join(line for line in lines if not line.startswith("-----"))[:64]


def _continued(pem: str) -> str:
    return " \\\n".join(pem.strip().splitlines())


def _ready(broker: SecureBroker) -> bool:
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
def secure_broker(
    directory: Path,
    mechanism: Mechanism | None = "PLAIN",
    tls: bool = False,
    client_auth: bool = False,
) -> Iterator[SecureBroker]:
    """Start the broker under `directory`; yield it once it answers; stop it at the end. With
    `client_auth` (and `tls`) it also requires the client certificate it yields; with no
    `mechanism` (TLS alone) that certificate is the client's only credential."""
    stack = Stack(stack_settings(directory))  # its jars, Java options and data layout
    stack.fetch_kafka()
    kafka_dir = directory / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    certificate = self_signed(directory, "broker") if tls else None
    # issued by the broker's certificate, which is the only one the broker trusts
    client = (
        signed_by(certificate, directory, "client", "cashless-client")
        if certificate is not None and client_auth
        else None
    )
    broker = SecureBroker(
        bootstrap=f"127.0.0.1:{port}",
        username="cashless",
        password=f"sasl-{uuid.uuid4().hex}",
        log=kafka_dir / "console.log",
        mechanism=mechanism,
        cafile=None if certificate is None else certificate.cert,
        client_cert=None if client is None else client.cert,
        client_key=None if client is None else client.key,
    )
    pem = (
        None
        if certificate is None
        else _Tls(
            certificate.cert.read_text(),
            certificate.key.read_text(),
            client is not None,
        )
    )
    properties = kafka_dir / "server.properties"
    properties.write_text(
        _properties(port, controller_port, kafka_dir / "data", broker, uuid.uuid4().hex, pem)
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
            *(
                []
                if mechanism in ("PLAIN", None)
                else [
                    "--add-scram",
                    f"{mechanism}=[name={broker.username},password={broker.password}]",
                ]
            ),
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

        wait_for(up, timeout=120, what="the secured broker to answer")
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
