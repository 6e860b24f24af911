"""The assumptions `streams.faust_seam` makes of Faust's and aiokafka's internals hold for the
installed versions; a release that breaks one fails here, naming it, not in production."""

from __future__ import annotations

import pytest
from faust.stores import rocksdb as faust_rocksdb
from faust.tables import recovery as faust_recovery

from streams import faust_seam


def test_every_assumption_of_the_seam_holds() -> None:
    problems = faust_seam.seam_problems()
    assert not problems, "streams/faust_seam.py needs a look:\n" + "\n".join(problems)


def test_a_missing_attribute_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(faust_rocksdb.Store, "_db_for_partition")
    assert faust_seam.seam_problems() == ["faust Store._db_for_partition: no longer holds"]


def test_a_changed_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resume_streams(self: object, generation_id: int = 0) -> None:
        """Resumes the partitions without seeking."""

    monkeypatch.setattr(faust_recovery.Recovery, "_resume_streams", resume_streams)
    assert faust_seam.seam_problems() == [
        "faust's recovery seeks the input partitions, then resumes flow control: no longer holds"
    ]


def test_another_minor_version_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(faust_seam.TESTED, "aiokafka", "0.99")
    [problem] = faust_seam.seam_problems()
    assert problem.startswith("aiokafka 0.14.")
    assert problem.endswith("is installed; the seam was tested on 0.99")
