"""The edge anonymiser every producer applies to a source record before anything is sent.

`Anonymiser` holds the pseudonymisation key (from `CASHLESS_PSEUDONYM_KEY`, a `SecretStr` that is
never logged, printed or repr'd) and turns a raw source record into a scrubbed one, ready for the
schema decoder: personal fields dropped, `payer`/`holder` pseudonymised, stray identifiers
removed (rules in `cashless.privacy`).

Producers refuse to start without a key (`Anonymiser.from_settings`), because pseudonyms made
under different keys do not match and a person would be counted twice. Only throw-away runs
(`simulate`, `demo`, a dry run) may use `ephemeral=True`, which makes a random key for the run
and says so.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless.errors import ConfigError
from cashless.privacy import (
    DEFAULT_PERSONAL_FIELDS,
    Pseudonymiser,
    Scrubber,
    derive_key,
)

__all__ = [
    "MIN_KEY_LENGTH",
    "Anonymiser",
    "AnonymiserSettings",
    "ephemeral_key",
    "pseudonym_key",
]

logger = logging.getLogger(__name__)

MIN_KEY_LENGTH = 16

_MISSING_KEY = (
    "CASHLESS_PSEUDONYM_KEY is not set. Producers pseudonymise payers and account holders with "
    "this key and refuse to run without it; give every producer the same secret of at least "
    f"{MIN_KEY_LENGTH} characters (for example the output of `openssl rand -hex 32`)."
)


class AnonymiserSettings(BaseSettings):
    """The pseudonymisation key and extra personal field names (env `CASHLESS_*`)."""

    model_config = SettingsConfigDict(env_prefix="CASHLESS_", frozen=True, extra="ignore")

    pseudonym_key: SecretStr | None = None
    extra_personal_fields: str = Field(
        default="",
        description="Comma-separated field names dropped in addition to the default list.",
    )

    def personal_fields(self) -> frozenset[str]:
        """The default personal field names plus the configured extra ones."""
        extra = {name.strip() for name in self.extra_personal_fields.split(",") if name.strip()}
        return DEFAULT_PERSONAL_FIELDS | extra


def ephemeral_key() -> bytes:
    """A random 32-byte key for a throw-away run (simulate, demo, dry runs)."""
    return secrets.token_bytes(32)


def pseudonym_key(
    settings: AnonymiserSettings,
    *,
    ephemeral: bool = False,
    announce: Callable[[str], None] | None = None,
) -> bytes:
    """The key from settings; without one, an ephemeral key when allowed, else `ConfigError`.

    `announce` receives a one-line notice when an ephemeral key is made (default: a warning
    log line). The key itself is never part of any message.
    """
    if settings.pseudonym_key is not None:
        secret = settings.pseudonym_key.get_secret_value()
        if len(secret) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"CASHLESS_PSEUDONYM_KEY is too short: use at least {MIN_KEY_LENGTH} characters"
            )
        return secret.encode("utf-8")
    if not ephemeral:
        raise ConfigError(_MISSING_KEY)
    notice = (
        "CASHLESS_PSEUDONYM_KEY is not set: using an ephemeral pseudonymisation key for this run; "
        "its pseudonyms will not match those of any other run or producer"
    )
    (announce or logger.warning)(notice)
    return ephemeral_key()


class Anonymiser:
    """Scrubs raw source records at the edge: `anonymise(record)` returns the record to send."""

    __slots__ = ("_hash_key", "_pseudonymiser", "_scrubber")

    def __init__(
        self, key: bytes, *, personal_fields: frozenset[str] = DEFAULT_PERSONAL_FIELDS
    ) -> None:
        self._pseudonymiser = Pseudonymiser(key)
        self._scrubber = Scrubber(self._pseudonymiser, personal_fields=personal_fields)
        self._hash_key = derive_key(key, "dlq-raw")

    @classmethod
    def from_settings(
        cls,
        settings: AnonymiserSettings | None = None,
        *,
        ephemeral: bool = False,
        announce: Callable[[str], None] | None = None,
    ) -> Anonymiser:
        """An anonymiser with the configured key (see `pseudonym_key` for `ephemeral`)."""
        settings = settings if settings is not None else AnonymiserSettings()
        key = pseudonym_key(settings, ephemeral=ephemeral, announce=announce)
        return cls(key, personal_fields=settings.personal_fields())

    @property
    def hash_key(self) -> bytes:
        """The key for `cashless.deadletter.dead_letter(hash_key=...)`, derived from the key."""
        return self._hash_key

    def pseudonym(self, value: str) -> str:
        """The keyed pseudonym of one identifier (for producers that build events directly)."""
        return self._pseudonymiser.pseudonym(value)

    def anonymise(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with personal data removed or pseudonymised, ready for the decoder."""
        return self._scrubber.scrub(record)

    __call__ = anonymise

    def __repr__(self) -> str:
        return "Anonymiser(key=<hidden>)"
