"""Settings of each component, read from flags or `CASHLESS_*` environment variables in one place.

Every component gets one frozen settings object. A flag given on the command line wins over the
environment, which wins over the default; `settings_from` is the one place that merges them.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless.errors import ConfigError
from cashless.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "KafkaSettings",
    "StackSettings",
    "TaxonomySettings",
    "WorkerSettings",
    "settings_from",
]

_S = TypeVar("_S", bound=BaseSettings)


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASHLESS_", frozen=True, extra="ignore")


class TaxonomySettings(_Settings):
    """Where the district and segment tables come from (packaged Hanoi reference by default)."""

    districts_file: Path | None = None
    segments_file: Path | None = None

    def load(self) -> Taxonomy:
        """Load the taxonomy these settings point at."""
        return load_taxonomy(self.districts_file, self.segments_file)


class KafkaSettings(_Settings):
    """How clients reach Kafka, and the prefix of the project's topic names.

    Security (env `CASHLESS_KAFKA_*`) applies to every client the project makes: the producers'
    kafka-python clients (`kafka_python_config`), the gateway's and the worker's aiokafka
    clients (`aiokafka_config`) and the Faust app (`streams.credentials`). `SASL_*` protocols
    need a username and password; `SSL`/`SASL_SSL` verify the brokers against `kafka_ssl_cafile`
    (default: the system's CAs), and `kafka_ssl_certfile`/`kafka_ssl_keyfile` add a client
    certificate. The password is a `SecretStr`: it is never printed, logged or exported.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> KafkaSettings:
        if self.uses_sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(
                f"{self.kafka_security_protocol} needs CASHLESS_KAFKA_SASL_USERNAME and "
                "CASHLESS_KAFKA_SASL_PASSWORD"
            )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("kafka_ssl_keyfile needs kafka_ssl_certfile")
        return self

    @property
    def uses_sasl(self) -> bool:
        """True for SASL_PLAINTEXT and SASL_SSL."""
        return self.kafka_security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        """True for SSL and SASL_SSL."""
        return self.kafka_security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context for SSL/SASL_SSL (verifying brokers), else None."""
        if not self.uses_tls:
            return None
        cafile = None if self.kafka_ssl_cafile is None else str(self.kafka_ssl_cafile)
        context = ssl.create_default_context(cafile=cafile)
        if self.kafka_ssl_certfile is not None:
            context.load_cert_chain(self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        return context

    def kafka_python_config(self) -> dict[str, Any]:
        """Security keyword arguments for kafka-python clients ({} for PLAINTEXT)."""
        config = self._common()
        if self.uses_tls:
            config["ssl_check_hostname"] = True
            for key in ("cafile", "certfile", "keyfile"):
                path = getattr(self, f"kafka_ssl_{key}")
                if path is not None:
                    config[f"ssl_{key}"] = str(path)
        return config

    def aiokafka_config(self) -> dict[str, Any]:
        """Security keyword arguments for aiokafka clients ({} for PLAINTEXT)."""
        config = self._common()
        if self.uses_tls:
            config["ssl_context"] = self.ssl_context()
        return config

    def _common(self) -> dict[str, Any]:
        if self.kafka_security_protocol == "PLAINTEXT":
            return {}
        config: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        if self.uses_sasl:
            config.update(self._sasl())
        return config

    def sasl_password(self) -> str | None:
        """The SASL password for a client library: a `str` whose repr is masked, because
        kafka-python logs its whole configuration dict at DEBUG level."""
        password = self.kafka_sasl_password
        return None if password is None else _MaskedSecret(password.get_secret_value())

    def _sasl(self) -> dict[str, Any]:
        # kafka-python and aiokafka log request bytes at DEBUG, the SASL handshake included, so
        # with SASL their loggers are held at INFO: the password is never written to a log.
        for name in ("kafka", "aiokafka"):
            library = logging.getLogger(name)
            if library.getEffectiveLevel() < logging.INFO:
                library.setLevel(logging.INFO)
        return {
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": self.sasl_password(),
        }


class _MaskedSecret(str):
    """A secret used as a plain string, shown as asterisks by repr (dicts and containers)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


class WorkerSettings(_Settings):
    """A stream worker: its identity, web server, state store and the numbers' parameters."""

    app_id: str = Field(default="cashless", pattern=r"^[A-Za-z0-9._-]+$")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=1, le=65535)
    state_dir: Path = Path(".cashless/worker")
    min_cell: int = Field(default=10, ge=1)
    max_sources: int = Field(default=200, ge=1)
    noncash_goal: float = Field(default=0.5, gt=0, le=1)
    accounts_goal: float = Field(default=0.5, gt=0, le=1)
    clock_skew_seconds: float = Field(default=300.0, ge=0)
    batch_max: int = Field(default=2000, ge=1)
    batch_within_seconds: float = Field(default=0.1, gt=0)
    summary_interval_seconds: float = Field(default=0.5, gt=0)


class StackSettings(_Settings):
    """The local no-Docker stack: where its state lives and the ports it binds on 127.0.0.1."""

    data_dir: Path = Path(".cashless")
    cache_dir: Path | None = None
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9094, ge=1, le=65535)
    prometheus_port: int = Field(default=9090, ge=1, le=65535)
    alertmanager_port: int = Field(default=9093, ge=1, le=65535)
    worker_targets: str = "127.0.0.1:6066"
    gateway_targets: str = "127.0.0.1:8080"
    scrape_interval: str | None = None
    kafka_heap: str = "512m"
    ready_timeout_seconds: float = Field(default=120.0, gt=0)


def settings_from(cls: type[_S], **flags: Any) -> _S:
    """Build settings of `cls` from the flags that were given (None = not given) and the env."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid {cls.__name__}: {problems}") from None
