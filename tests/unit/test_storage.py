"""The data-directory check made before a worker or the stack writes state."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashless.errors import CashlessError
from cashless.storage import StorageError, check_data_dir


def test_a_writable_directory_is_created_and_left_empty(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    check_data_dir(target, "worker state", min_free_bytes=1)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_too_little_free_space_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    target = tmp_path / "state"
    with pytest.raises(StorageError, match=r"not enough disk space for .*state: .* free") as error:
        check_data_dir(target, "worker state", min_free_bytes=1 << 62)
    assert str(error.value).startswith("worker state: ")
    assert "\n" not in str(error.value)
    assert not target.exists()


def test_a_path_that_cannot_be_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CashlessError, match=f"stack: cannot write to {blocker}/data: "):
        check_data_dir(blocker / "data", "stack", min_free_bytes=1)
