"""The dead-letter workflow's pure parts: which letters a filter keeps, how they are counted,
what an export writes (kept events) and lists (unparseable input)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from cashless.deadletter import dead_letter
from cashless.errors import ConfigError
from cashless.schema import Rejection
from cli.dlq import _since
from producers.dlq import DlqFilter, DlqSummary, export_events

KEY = b"k" * 32
EVENT = {"schema": 1, "event_id": "e-1", "source": "hawaco", "method": "Tiền mặt"}


def _letter(reason: str, source: str | None, when: str, kept: bool = True):  # type: ignore[no-untyped-def]
    return dead_letter(
        Rejection(reason=reason, detail="", source=source),
        origin="replay",
        raw=b"raw bytes",
        hash_key=KEY,
        scrubbed=dict(EVENT, source=source) if kept else None,
        location={"file": "export.csv", "line": 7},
        now=datetime.fromisoformat(when),
    )


LETTERS = [
    _letter("unknown_method", "hawaco", "2026-12-02T16:59:00+00:00"),  # 23:59 in Hanoi
    _letter("unknown_method", "evn-hanoi", "2026-12-02T17:01:00+00:00"),  # next Hanoi day
    _letter("bad_json", None, "2026-12-03T01:00:00+00:00", kept=False),
]


def test_a_filter_keeps_the_reasons_source_and_time_asked_for() -> None:
    since = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert [dl.source for dl in LETTERS if DlqFilter(frozenset({"unknown_method"}))(dl)] == [
        "hawaco",
        "evn-hanoi",
    ]
    assert [dl.reason for dl in LETTERS if DlqFilter(source="hawaco")(dl)] == ["unknown_method"]
    assert [dl.reason for dl in LETTERS if DlqFilter(since=since)(dl)] == [
        "unknown_method",
        "bad_json",
    ]


def test_the_summary_counts_by_reason_source_and_hanoi_day() -> None:
    summary = DlqSummary()
    for dl in LETTERS:
        summary.add(dl)
    counted = summary.as_json()
    assert counted["total"] == 3
    assert counted["unparseable"] == 1
    assert counted["by_reason"] == {"unknown_method": 2, "bad_json": 1}
    assert counted["by_source"] == {"hawaco": 1, "evn-hanoi": 1, "(unknown)": 1}
    assert counted["by_day"] == {"2026-12-02": 1, "2026-12-03": 2}
    assert summary.report()[0].startswith("3 dead letters (1 unparseable")


def test_an_export_writes_the_kept_events_and_lists_the_rest() -> None:
    out = io.StringIO()
    tally = export_events(iter(LETTERS), out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["source"] for r in rows] == ["hawaco", "evn-hanoi"]
    assert rows[0]["method"] == "Tiền mặt", "the event as it was, to be fixed"
    assert [dl.reason for dl in tally.unparseable] == ["bad_json"]
    assert b"raw bytes".decode() not in out.getvalue()


def test_since_is_a_time_with_its_offset_or_a_duration_back() -> None:
    assert _since("2026-12-01T00:00:00+07:00") == datetime(2026, 11, 30, 17, tzinfo=UTC)
    back = _since("24h")
    assert back is not None
    assert abs((datetime.now(UTC) - back).total_seconds() - 86400) < 60
    for bad in ("yesterday", "2026-12-01T00:00:00"):
        with pytest.raises(ConfigError):
            _since(bad)
