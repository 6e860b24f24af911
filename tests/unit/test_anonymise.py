"""The edge anonymiser: the key comes from the environment, is required, and is never shown."""

from __future__ import annotations

import logging

import pytest

from cashless.anonymise import (
    Anonymiser,
    AnonymiserSettings,
    ephemeral_key,
    pseudonym_key,
)
from cashless.errors import ConfigError
from cashless.privacy import is_pseudonym
from cashless.settings import settings_from

SECRET = "s3cret-key-for-unit-tests"


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASHLESS_PSEUDONYM_KEY", SECRET)
    settings = settings_from(AnonymiserSettings)
    assert pseudonym_key(settings) == SECRET.encode()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


def test_without_a_key_producers_refuse_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASHLESS_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ConfigError, match="CASHLESS_PSEUDONYM_KEY is not set"):
        Anonymiser.from_settings(AnonymiserSettings())


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        pseudonym_key(AnonymiserSettings(pseudonym_key="short"))  # type: ignore[arg-type]


def test_throwaway_runs_get_an_ephemeral_key_and_say_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CASHLESS_PSEUDONYM_KEY", raising=False)
    notices: list[str] = []
    first = pseudonym_key(AnonymiserSettings(), ephemeral=True, announce=notices.append)
    second = pseudonym_key(AnonymiserSettings(), ephemeral=True, announce=notices.append)
    assert first != second
    assert len(first) == 32
    assert all("ephemeral" in n for n in notices)
    with caplog.at_level(logging.WARNING):
        Anonymiser.from_settings(AnonymiserSettings(), ephemeral=True)
    assert "ephemeral" in caplog.text


def test_a_configured_key_wins_over_ephemeral() -> None:
    settings = AnonymiserSettings(pseudonym_key=SECRET)  # type: ignore[arg-type]
    assert pseudonym_key(settings, ephemeral=True) == SECRET.encode()


def test_anonymiser_scrubs_and_hides_its_key() -> None:
    anonymiser = Anonymiser(SECRET.encode())
    clean = anonymiser({"payer": "0912345678", "phone": "0912345678", "source": "hawaco"})
    assert clean == {"payer": anonymiser.pseudonym("0912345678"), "source": "hawaco"}
    assert is_pseudonym(clean["payer"])
    assert SECRET not in repr(anonymiser)
    assert anonymiser.hash_key != SECRET.encode()


def test_extra_personal_fields_from_settings() -> None:
    settings = AnonymiserSettings(
        pseudonym_key=SECRET,  # type: ignore[arg-type]
        extra_personal_fields="ma_khach_hang, so_hop_dong",
    )
    anonymiser = Anonymiser.from_settings(settings)
    clean = anonymiser({"ma_khach_hang": "KH1", "so_hop_dong": "HD1", "source": "x"})
    assert clean == {"source": "x"}


def test_same_key_same_pseudonym_across_producers() -> None:
    a, b = Anonymiser(SECRET.encode()), Anonymiser(SECRET.encode())
    assert a({"holder": "+84 912 345 678"}) == b({"holder": "0912345678"})
    assert len(ephemeral_key()) == 32
