"""Gateway tokens: issued once, stored as hashes only (mode 0600), revocable, reloaded on change."""

from __future__ import annotations

import hmac
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from producers.gateway.tokens import (
    TOKEN_PREFIX,
    TokenError,
    TokenStore,
    TokenVerifier,
    hash_token,
    parse_duration,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "gateway-tokens.json"


def test_add_returns_the_token_once_and_stores_only_its_hash(path: Path) -> None:
    store = TokenStore(path)
    entry, token = store.add("hawaco", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    prefix, token_id, secret = token.split("_", 2)
    assert prefix == TOKEN_PREFIX
    assert token_id == entry.id
    assert len(secret) >= 40
    assert entry.source == "hawaco"
    assert entry.created == "2026-01-02T03:04:05+00:00"
    assert entry.sha256 == hash_token(token)
    text = path.read_text()
    assert token not in text
    assert secret not in text
    assert json.loads(text)["tokens"][0]["sha256"] == hash_token(token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.entries() == [entry]


def test_tokens_are_unique_and_listed_oldest_first(path: Path) -> None:
    store = TokenStore(path)
    issued = [store.add(source) for source in ("hawaco", "hawaco", "momo")]
    assert len({token for _, token in issued}) == 3
    assert len({entry.id for entry, _ in issued}) == 3
    assert [e.source for e in store.entries()] == ["hawaco", "hawaco", "momo"]


def test_revoke_by_source_or_by_id(path: Path) -> None:
    store = TokenStore(path)
    first, _ = store.add("hawaco")
    second, _ = store.add("hawaco")
    momo, _ = store.add("momo")
    assert store.revoke(token_id=first.id) == [first]
    assert store.entries() == [second, momo]
    assert store.revoke(source="hawaco") == [second]
    assert store.entries() == [momo]
    assert store.revoke(source="hawaco") == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("source", ["", "EVN", "evn hanoi", "x" * 65, "a_b"])
def test_a_source_must_be_a_slug(path: Path, source: str) -> None:
    with pytest.raises(TokenError, match="not a source id"):
        TokenStore(path).add(source)


def test_revoke_needs_exactly_one_selector(path: Path) -> None:
    store = TokenStore(path)
    with pytest.raises(TokenError):
        store.revoke()
    with pytest.raises(TokenError):
        store.revoke(source="a", token_id="b")


def test_a_malformed_file_is_an_error_not_an_empty_store(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(TokenError, match="malformed"):
        TokenStore(path).entries()
    with pytest.raises(TokenError, match="malformed"):
        TokenStore(path).add("hawaco")
    path.write_text(json.dumps({"version": 9, "tokens": []}))
    with pytest.raises(TokenError, match="version 9"):
        TokenStore(path).entries()


def test_concurrent_adds_lose_nothing(path: Path) -> None:
    store = TokenStore(path)
    threads = [threading.Thread(target=store.add, args=(f"s{i}",)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e.source for e in store.entries()) == sorted(f"s{i}" for i in range(16))


def test_verifier_accepts_only_the_exact_token(path: Path) -> None:
    store = TokenStore(path)
    _, token = store.add("hawaco")
    _, other = store.add("momo")
    verifier = TokenVerifier(path)
    assert verifier.source_of(token) == "hawaco"
    assert verifier.source_of(other) == "momo"
    assert verifier.sources == frozenset({"hawaco", "momo"})
    prefix, token_id, secret = token.split("_", 2)
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in (
        f"{prefix}_{token_id}_{flipped}",
        f"{prefix}_00000000_{secret}",
        f"{prefix}_{token_id}",
        token + "x",
        token.upper(),
        "",
        "garbage",
        "x" * 10_000,
        f"{prefix}_{token_id}_{secret}\x00",
    ):
        assert verifier.source_of(wrong) is None, wrong


def test_verifier_follows_revocations_and_new_tokens_without_restart(path: Path) -> None:
    store = TokenStore(path)
    first, token = store.add("hawaco")
    verifier = TokenVerifier(path)
    assert verifier.source_of(token) == "hawaco"
    _, later = store.add("momo")
    assert verifier.source_of(later) == "momo"
    store.revoke(token_id=first.id)
    assert verifier.source_of(token) is None
    assert verifier.source_of(later) == "momo"


def test_verifier_notices_an_in_place_edit(path: Path) -> None:
    store = TokenStore(path)
    _, token = store.add("hawaco")
    verifier = TokenVerifier(path)
    assert verifier.source_of(token) == "hawaco"
    data = json.loads(path.read_text())
    data["tokens"] = []
    with path.open("w") as f:  # an operator's editor, not an atomic rename
        json.dump(data, f)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert verifier.source_of(token) is None


def test_verifier_fails_closed_on_a_missing_or_broken_file(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TokenStore(path)
    _, token = store.add("hawaco")
    verifier = TokenVerifier(path)
    good = path.read_bytes()
    with caplog.at_level(logging.ERROR, logger="producers.gateway_tokens"):
        path.write_text("{broken")
        assert verifier.source_of(token) is None
        assert verifier.source_of(token) is None
        path.unlink()
        assert verifier.source_of(token) is None
    assert len(verifier) == 0
    errors = [r.getMessage() for r in caplog.records]
    assert len(errors) == 2, "one error per problem, not one per request"
    assert all(token not in e for e in errors)
    path.write_bytes(good)
    assert verifier.source_of(token) == "hawaco"


def test_verifier_warns_about_a_readable_file(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    TokenStore(path).add("hawaco")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="producers.gateway_tokens"):
        TokenVerifier(path)
    assert "readable by other users" in caplog.text


# -- the command line ------------------------------------------------------------------------------


def test_token_commands(path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["gateway", "token", "add", "hawaco", "--tokens-file", str(path)])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith(f"{TOKEN_PREFIX}_")
    assert "shown only this once" in added.stderr
    assert token not in added.stderr
    assert TokenVerifier(path).source_of(token) == "hawaco"

    listed = runner.invoke(cli, ["gateway", "token", "list", "--tokens-file", str(path)])
    assert listed.exit_code == 0
    assert "hawaco" in listed.stdout
    assert token.split("_")[1] in listed.stdout
    assert token not in listed.output
    assert hash_token(token) not in listed.output

    revoked = runner.invoke(
        cli, ["gateway", "token", "revoke", "hawaco", "--tokens-file", str(path)]
    )
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1 token" in revoked.stdout
    assert TokenVerifier(path).source_of(token) is None

    again = runner.invoke(cli, ["gateway", "token", "revoke", "hawaco", "--tokens-file", str(path)])
    assert again.exit_code == 1
    assert "no token of source 'hawaco'" in again.stderr
    assert "Traceback" not in again.output


def test_token_commands_read_the_file_from_the_environment(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASHLESS_GATEWAY_TOKENS_FILE", str(path))
    runner = CliRunner()
    added = runner.invoke(cli, ["gateway", "token", "add", "momo"])
    assert added.exit_code == 0, added.output
    by_id = TokenStore(path).entries()[0].id
    revoked = runner.invoke(cli, ["gateway", "token", "revoke", "--id", by_id])
    assert revoked.exit_code == 0, revoked.output
    assert TokenStore(path).entries() == []


def test_a_bad_source_is_a_clear_error(path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["gateway", "token", "add", "EVN Hà Nội", "--tokens-file", str(path)]
    )
    assert result.exit_code == 1
    assert "not a source id" in result.stderr
    assert "Traceback" not in result.output


# -- expiry ----------------------------------------------------------------------------------------


def test_a_token_with_a_lifetime_expires(path: Path) -> None:
    store = TokenStore(path)
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    entry, token = store.add("hawaco", now=issued, expires_in=timedelta(days=30))
    _, forever = store.add("momo", now=issued)
    assert entry.expires == "2026-01-31T00:00:00+00:00"
    assert json.loads(path.read_text())["tokens"][0]["expires"] == entry.expires
    assert "expires" not in json.loads(path.read_text())["tokens"][1], "no field, no expiry"
    now = [issued.timestamp()]
    verifier = TokenVerifier(path, clock=lambda: now[0])
    assert verifier.source_of(token) == "hawaco"
    now[0] = datetime(2026, 1, 30, 23, 59, 59, tzinfo=UTC).timestamp()
    assert verifier.source_of(token) == "hawaco"
    now[0] = datetime(2026, 1, 31, tzinfo=UTC).timestamp()
    assert verifier.source_of(token) is None, "expired at the very second"
    assert verifier.entry_of(token) is None
    now[0] = datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    assert verifier.source_of(forever) == "momo", "a token without a lifetime never expires"


def test_a_tokens_file_from_before_expiry_is_read_unchanged(path: Path) -> None:
    token = f"{TOKEN_PREFIX}_0123abcd_{'s' * 43}"
    old: dict[str, Any] = {
        "version": 1,
        "tokens": [
            {
                "id": "0123abcd",
                "source": "hawaco",
                "created": "2025-06-01T00:00:00+00:00",
                "sha256": hash_token(token),
            }
        ],
    }
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    path.chmod(0o600)
    assert TokenVerifier(path, clock=lambda: 4e9).source_of(token) == "hawaco"
    store = TokenStore(path)
    store.add("momo", expires_in=timedelta(hours=1))
    assert json.loads(path.read_text())["tokens"][0] == old["tokens"][0], "rewritten as it was"


@pytest.mark.parametrize("expires", ["tomorrow", "2026-01-01T00:00:00", 42])
def test_a_bad_expiry_fails_closed(path: Path, expires: object) -> None:
    store = TokenStore(path)
    _, token = store.add("hawaco")
    data = json.loads(path.read_text())
    data["tokens"][0]["expires"] = expires
    path.write_text(json.dumps(data))
    with pytest.raises(TokenError, match="malformed"):
        store.entries()
    assert TokenVerifier(path).source_of(token) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("12h", 43_200), ("30d", 2_592_000), ("2w", 1_209_600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0d", "-1d", "30", "d", "30 days", "1y"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(TokenError, match="not a duration"):
        parse_duration(text)


def test_a_lifetime_must_be_positive(path: Path) -> None:
    with pytest.raises(TokenError, match="positive"):
        TokenStore(path).add("hawaco", expires_in=timedelta(0))


def test_token_add_with_expires_in_and_list_shows_expiry(path: Path) -> None:
    runner = CliRunner()
    args = ["--tokens-file", str(path)]
    added = runner.invoke(cli, ["gateway", "token", "add", "hawaco", "--expires-in", "30d", *args])
    assert added.exit_code == 0, added.output
    assert "valid until" in added.stderr
    entry = TokenStore(path).entries()[0]
    assert entry.expires is not None
    lifetime = datetime.fromisoformat(entry.expires) - datetime.fromisoformat(entry.created)
    assert lifetime == timedelta(days=30)
    bad = runner.invoke(cli, ["gateway", "token", "add", "momo", "--expires-in", "soon", *args])
    assert bad.exit_code == 1
    assert "not a duration" in bad.stderr
    assert "Traceback" not in bad.output
    TokenStore(path).add(
        "evn-hanoi", now=datetime(2020, 1, 1, tzinfo=UTC), expires_in=timedelta(days=1)
    )
    listed = runner.invoke(cli, ["gateway", "token", "list", *args])
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert lines["hawaco"].endswith(entry.expires)
    assert lines["evn-hanoi"].endswith("2020-01-02T00:00:00+00:00 (expired)")
    assert "never" not in listed.stdout
    TokenStore(path).add("momo")
    assert "never" in runner.invoke(cli, ["gateway", "token", "list", *args]).stdout


# -- the comparison --------------------------------------------------------------------------------


def test_every_check_compares_sha256_digests_with_compare_digest(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a unit test can show about timing safety: every presented token, right or wrong,
    known id or not, is hashed and compared with `hmac.compare_digest` against a stored digest
    of the same length, so the compared strings share no prefix with the token and the
    comparison does not stop at the first differing character. It cannot show that the
    interpreter and CPU run in constant time; that is `compare_digest`'s own guarantee."""
    store = TokenStore(path)
    _, token = store.add("hawaco")
    verifier = TokenVerifier(path)
    stored = hash_token(token)
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("producers.gateway.tokens.hmac.compare_digest", spy)
    prefix, token_id, secret = token.split("_", 2)
    presented = [
        token,
        f"{prefix}_{token_id}_{secret[:-1]}",  # all but the last character right
        f"{prefix}_{token_id}_{'A' * len(secret)}",  # only the id right
        f"{prefix}_ffffffff_{secret}",  # unknown id
        "garbage",
    ]
    answers = [verifier.source_of(p) for p in presented]
    assert answers == ["hawaco", None, None, None, None]
    assert len(calls) == len(presented), "one comparison per token, whatever it looks like"
    for (expected, got), p in zip(calls, presented, strict=True):
        assert len(expected) == len(got) == 64
        assert got == hash_token(p), "the digest of the presented token, never the token"
        assert p not in (expected, got)
    assert calls[0][0] == calls[1][0] == calls[2][0] == stored
    assert calls[3][0] != stored, "an unknown id is compared against a dummy digest"
    # A token right but for its last character gives a digest no closer to the stored one.
    near = calls[1][1]
    shared = next((i for i, (x, y) in enumerate(zip(near, stored, strict=True)) if x != y), 64)
    assert shared < 8
