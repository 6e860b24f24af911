"""A local store built from another Kafka is found and discarded; one of this Kafka is kept."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streams.store_guard import CLUSTER_ID_FILE, guard_store, stale_reason

CHANGELOG = "cashless-payments-state-changelog"


def test_a_store_of_another_cluster_is_stale() -> None:
    assert stale_reason("old", "new", {}, {}) == "it was built from Kafka cluster old, not new"
    assert stale_reason("same", "same", {}, {}) is None
    assert stale_reason(None, "new", {}, {}) is None, "a store without an id: the offsets tell"


def test_a_store_ahead_of_its_changelog_is_stale() -> None:
    ends = {CHANGELOG: {0: 10, 1: 0}}
    assert stale_reason(None, "c", {CHANGELOG: {0: 9}}, ends) is None
    assert stale_reason(None, "c", {CHANGELOG: {0: 10}}, ends) == (
        f"it holds offset 10 of {CHANGELOG}[0], whose end is at 10"
    )
    assert "[1]" in (stale_reason("c", "c", {CHANGELOG: {1: 0}}, ends) or "")


def make_store(datadir: Path) -> Path:
    tables = datadir / "v1" / "tables"
    (tables / "payments-state-0.db").mkdir(parents=True)
    (tables / "payments-state-0.db" / "CURRENT").write_text("x")
    return tables


def test_a_stale_store_is_discarded_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tables = make_store(tmp_path)
    (tmp_path / CLUSTER_ID_FILE).write_text("old\n")
    with caplog.at_level(logging.WARNING):
        assert guard_store(tmp_path, tables, "new", {}, {}) is True
    assert not tables.exists()
    assert (tmp_path / CLUSTER_ID_FILE).read_text() == "new\n"
    [warning] = caplog.records
    assert "does not belong to this Kafka" in warning.getMessage()
    assert "rebuilding it from the changelogs" in warning.getMessage()


def test_a_store_of_this_cluster_is_kept(tmp_path: Path) -> None:
    tables = make_store(tmp_path)
    assert guard_store(tmp_path, tables, "c1", {CHANGELOG: {0: 3}}, {CHANGELOG: {0: 4}}) is False
    assert (tables / "payments-state-0.db" / "CURRENT").exists()
    assert (tmp_path / CLUSTER_ID_FILE).read_text() == "c1\n", "the id is kept from now on"
    assert guard_store(tmp_path, tables, "c1", {CHANGELOG: {0: 3}}, {CHANGELOG: {0: 4}}) is False
    assert (tables / "payments-state-0.db" / "CURRENT").exists()
