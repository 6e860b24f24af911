"""Bearer tokens of the HTTP gateway: issued per source, stored only as hashes, checked per request.

A token reads `cgw_<id>_<secret>`: `id` is 8 hex characters that name the token in listings and
revocations, `secret` is 32 random bytes (URL-safe base64). The tokens file
(`.cashless/gateway-tokens.json` by default, `CASHLESS_GATEWAY_TOKENS_FILE`) keeps, for each token,
its id, its source, when it was created, when it expires (optional: files written before expiry
existed have no such field and their tokens never expire) and the SHA-256 of the whole token,
never the token itself. A salted slow hash (scrypt) protects guessable passwords; a 256-bit
random secret cannot be guessed, so one SHA-256 is as strong here and keeps the check cheap
enough for every request.

`TokenStore` is the command-line side: `add` issues a token (returned once, never stored),
`revoke` removes tokens by source or id, `entries` lists them. Every change rewrites the file
atomically (a temporary file with mode 0600, then a rename) under an advisory lock, so the
gateway never reads half a file and two concurrent commands do not lose each other's changes.

`TokenVerifier` is the gateway's side: `entry_of(token)` returns the token's entry, or None for
a token that is unknown, revoked or expired (`source_of` returns just the source). Every token
presented costs one SHA-256 and one `hmac.compare_digest` against a stored hash, whether its id
is known or not, so neither the time nor the answer tells how much of a token was right.
It looks at the file's identity (inode, size, mtime) on every call and reloads it when it
changed, so a revocation takes effect on the next request without a restart. A file that is
missing or unreadable fails closed: no token is accepted until it is fixed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from cashless import durations
from cashless.errors import CashlessError, ConfigError

__all__ = [
    "DEFAULT_TOKENS_FILE",
    "TOKEN_PREFIX",
    "TokenEntry",
    "TokenError",
    "TokenStore",
    "TokenVerifier",
    "hash_token",
    "parse_duration",
]

# The logger keeps its name from before the gateway was a package, so log filters still match.
logger = logging.getLogger("producers.gateway_tokens")

DEFAULT_TOKENS_FILE = Path(".cashless/gateway-tokens.json")
TOKEN_PREFIX = "cgw"  # noqa: S105 - a public marker, not a secret
FILE_VERSION = 1
_SOURCE = re.compile(r"[a-z0-9-]{1,64}")
_TOKEN_ID = re.compile(r"[0-9a-f]{8}")
_MAX_TOKEN_LENGTH = 256
# Compared against when a token names no known id, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


class TokenError(CashlessError):
    """The tokens file cannot be read or written, or a token operation was given bad input."""


class TokenEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One issued token as the file keeps it: never the token, only its SHA-256.

    `expires` is an RFC 3339 time, or None for a token that never expires (the only kind
    files written before expiry existed hold; they are read unchanged).
    """

    id: str
    source: str
    created: str
    sha256: str
    expires: str | None = None

    def expires_at(self) -> float | None:
        """The expiry as a Unix time, or None when the token never expires."""
        if self.expires is None:
            return None
        return _parse_time(self.expires, self.id)

    def expired(self, now: float) -> bool:
        """True once `now` (a Unix time) is at or past the expiry."""
        at = self.expires_at()
        return at is not None and now >= at


class _TokensFile(msgspec.Struct, frozen=True, kw_only=True):
    version: int = FILE_VERSION
    tokens: list[TokenEntry] = msgspec.field(default_factory=list)


_decoder = msgspec.json.Decoder(_TokensFile)
_encoder = msgspec.json.Encoder()


def parse_duration(text: str) -> timedelta:
    """A lifetime such as `90s`, `15m`, `12h`, `30d` or `8w`: a positive number and a unit."""
    try:
        return timedelta(seconds=durations.parse_duration(text, unit_required=True))
    except ConfigError as exc:
        raise TokenError(str(exc)) from None


def _parse_time(text: str, token_id: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TokenError(f"token {token_id} has an invalid expiry {text!r}") from None
    if parsed.tzinfo is None:
        raise TokenError(f"token {token_id} has an expiry without a UTC offset: {text!r}")
    return parsed.timestamp()


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _token_id_of(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _TOKEN_ID.fullmatch(parts[1]):
        return None
    return parts[1]


def _read(path: Path) -> list[TokenEntry]:
    """The entries of a tokens file; [] when it does not exist; `TokenError` when malformed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TokenError(f"cannot read the tokens file {path}: {exc.strerror}") from None
    try:
        parsed = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TokenError(f"the tokens file {path} is malformed: {exc}") from None
    if parsed.version != FILE_VERSION:
        raise TokenError(f"the tokens file {path} has version {parsed.version}, not {FILE_VERSION}")
    for entry in parsed.tokens:
        try:
            entry.expires_at()
        except TokenError as exc:
            raise TokenError(f"the tokens file {path} is malformed: {exc}") from None
    return list(parsed.tokens)


class TokenStore:
    """Issues, revokes and lists the gateway's tokens in one file (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[TokenEntry]:
        """Every token in the file, oldest first."""
        return _read(self.path)

    def add(
        self,
        source: str,
        *,
        now: datetime | None = None,
        expires_in: timedelta | None = None,
    ) -> tuple[TokenEntry, str]:
        """Issue a new token for `source`: its entry and the token, which is not kept anywhere.

        With `expires_in`, the gateway refuses the token (401) from `now + expires_in` on.
        """
        if expires_in is not None and expires_in <= timedelta(0):
            raise TokenError("a token's lifetime must be positive")
        if not _SOURCE.fullmatch(source):
            raise TokenError(
                f"{source!r} is not a source id: use 1-64 characters of a-z, 0-9 and '-'"
            )
        with self._locked():
            entries = _read(self.path)
            taken = {entry.id for entry in entries}
            token_id = secrets.token_hex(4)
            while token_id in taken:
                token_id = secrets.token_hex(4)
            token = f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
            created = (now or datetime.now(UTC)).replace(microsecond=0)
            expires = None if expires_in is None else created + expires_in
            entry = TokenEntry(
                id=token_id,
                source=source,
                created=created.isoformat(timespec="seconds"),
                sha256=hash_token(token),
                expires=None if expires is None else expires.isoformat(timespec="seconds"),
            )
            self._write([*entries, entry])
        return entry, token

    def revoke(self, *, source: str | None = None, token_id: str | None = None) -> list[TokenEntry]:
        """Remove the tokens of `source`, or the one token `token_id`; return what was removed."""
        if (source is None) == (token_id is None):
            raise TokenError("revoke takes a source or a token id, not both and not neither")
        with self._locked():
            entries = _read(self.path)
            removed = [e for e in entries if e.source == source or e.id == token_id]
            if removed:
                self._write([e for e in entries if e not in removed])
        return removed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(
                self.path.with_name(f".{self.path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o600
            )
        except OSError as exc:
            raise TokenError(f"cannot lock the tokens file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)

    def _write(self, entries: list[TokenEntry]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        data = _encoder.encode(_TokensFile(tokens=entries))
        try:
            temporary.unlink(missing_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(msgspec.json.format(data, indent=2) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise TokenError(f"cannot write the tokens file {self.path}: {exc.strerror}") from None


class TokenVerifier:
    """Answers which source a bearer token belongs to, following changes of the tokens file.

    `clock` gives the wall time (Unix seconds) that expiries are compared with.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._identity: tuple[int, int, int] | None = None
        self._by_id: dict[str, TokenEntry] = {}
        self._expiries: dict[str, float] = {}
        self._problem: str | None = None
        self.refresh()

    @property
    def sources(self) -> frozenset[str]:
        """The sources that hold at least one token now."""
        return frozenset(entry.source for entry in self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def refresh(self) -> None:
        """Reload the file if it changed since it was last read (one `stat` when it did not)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._fail_closed(None, f"the tokens file {self.path} does not exist")
            return
        except OSError as exc:
            self._fail_closed(None, f"cannot stat the tokens file {self.path}: {exc.strerror}")
            return
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        if identity == self._identity:
            return
        try:
            entries = _read(self.path)
        except TokenError as exc:
            self._fail_closed(identity, str(exc))
            return
        self._identity = identity
        self._by_id = {entry.id: entry for entry in entries}
        self._expiries = {e.id: at for e in entries if (at := e.expires_at()) is not None}
        self._problem = None
        if st.st_mode & 0o077:
            logger.warning(
                "the tokens file %s is readable by other users (mode %o); chmod 600 it",
                self.path,
                st.st_mode & 0o777,
            )
        logger.info("gateway tokens loaded: %d tokens for %d sources", len(self), len(self.sources))

    def entry_of(self, token: str) -> TokenEntry | None:
        """The token's entry, or None for a token that is unknown, revoked or expired."""
        self.refresh()
        if len(token) > _MAX_TOKEN_LENGTH:
            return None
        token_id = _token_id_of(token)
        entry = self._by_id.get(token_id) if token_id is not None else None
        expected = entry.sha256 if entry is not None else _DUMMY_HASH
        # Digests of the whole token, compared in constant time: a prefix of the right token
        # yields an unrelated digest, and compare_digest does not stop at the first difference.
        matches = hmac.compare_digest(expected, hash_token(token))
        if entry is None or not matches:
            return None
        expires = self._expiries.get(entry.id)
        if expires is not None and self._clock() >= expires:
            return None
        return entry

    def source_of(self, token: str) -> str | None:
        """The source the token was issued for, or None for an unknown, revoked or expired token."""
        entry = self.entry_of(token)
        return entry.source if entry is not None else None

    def _fail_closed(self, identity: tuple[int, int, int] | None, problem: str) -> None:
        if problem != self._problem:
            logger.error("%s: no gateway token is accepted until it is fixed", problem)
        self._identity = identity
        self._by_id = {}
        self._expiries = {}
        self._problem = problem
