"""The gateway's settings: address, limits, tokens file, TLS and producer tuning, in one place."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless.schema import DEFAULT_MAX_RECORD_BYTES
from producers.gateway.errors import GatewayError
from producers.gateway.tokens import DEFAULT_TOKENS_FILE

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """The gateway's address, limits, tokens file and producer tuning (env `CASHLESS_GATEWAY_*`).

    Kafka's address and the topic prefix are `KafkaSettings` (`CASHLESS_BOOTSTRAP_SERVERS`,
    `CASHLESS_TOPIC_PREFIX`), shared with every other command.
    """

    model_config = SettingsConfigDict(env_prefix="CASHLESS_GATEWAY_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_batch: int = Field(default=500, ge=1, le=100_000, description="Most items per request.")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    tokens_file: Path = DEFAULT_TOKENS_FILE
    # The benchmark pushes 20,000 events/s as 40 requests/s of 500: the default leaves room.
    rate_limit_per_second: float = Field(
        default=100.0, ge=0, le=1_000_000, description="Requests/s per token; 0 = no limit."
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, le=1_000_000, description="Requests a token may send at once."
    )
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # A client that holds a connection without finishing its request (slow headers or body)
    # is cut off after this; also how long an idle keep-alive connection stays open.
    client_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    events_per_record: int = Field(default=500, ge=1, le=100_000)
    max_record_bytes: int = Field(
        default=DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
        ge=1024,
        le=DEFAULT_MAX_RECORD_BYTES - 48 * 1024,
    )
    linger_ms: int = Field(default=2, ge=0, le=60_000)
    compression: Literal["lz4", "gzip", "none"] = "lz4"
    probe_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    shutdown_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    create_topics: bool = True
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain: serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM private key of `tls_cert`.")

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key for HTTPS, or neither for HTTP")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context of `tls_cert`/`tls_key`, or None for plain HTTP."""
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise GatewayError(
                f"cannot load the TLS certificate {self.tls_cert} and key {self.tls_key}: "
                f"{getattr(exc, 'strerror', None) or exc}"
            ) from None
        return context
