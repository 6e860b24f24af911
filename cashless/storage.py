"""Checks that a data directory can hold state, made before a server or worker writes any.

A full or read-only disk found at start is one clear error naming the directory, instead of a
server or RocksDB failing later with a traceback and half-written state.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from cashless.errors import CashlessError

__all__ = ["StorageError", "check_data_dir"]

_PROBE = ".cashless-write-probe"


class StorageError(CashlessError):
    """A data directory cannot be created or written, or its disk is (nearly) full."""


def check_data_dir(path: Path, what: str, min_free_bytes: int) -> None:
    """Create `path` if needed and make sure `what` can write there, with room to spare.

    Free space is checked on the nearest existing directory before anything is created, so a
    full disk is left as it was. Raises `StorageError` with a one-line message.
    """
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError as exc:
        raise StorageError(f"{what}: cannot inspect {existing}: {_reason(exc)}") from None
    if free < min_free_bytes:
        raise StorageError(
            f"{what}: not enough disk space for {path}: {_size(free)} free on its filesystem, "
            f"at least {_size(min_free_bytes)} needed; free some space or choose another directory"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / _PROBE
        with probe.open("wb") as stream:
            stream.write(b"\0" * 4096)
            stream.flush()
            os.fsync(stream.fileno())
        probe.unlink()
    except OSError as exc:
        raise StorageError(f"{what}: cannot write to {path}: {_reason(exc)}") from None


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "the filesystem is read-only"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024**2:
        return f"{n / 1024:.1f} KiB"
    if n < 1024**3:
        return f"{n / 1024**2:.1f} MiB"
    return f"{n / 1024**3:.1f} GiB"
