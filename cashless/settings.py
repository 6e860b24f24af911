"""Settings of each component, read from flags or `CASHLESS_*` environment variables in one place.

Every component gets one frozen settings object. A flag given on the command line wins over the
environment, which wins over the default; `settings_from` is the one place that merges them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
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
    """How clients reach Kafka, and the prefix of the project's topic names."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""


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
