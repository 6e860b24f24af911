"""Taxonomy: the packaged Hanoi reference and user-supplied replacements (no broker)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from cashless.errors import ConfigError
from cashless.schema import EventDecoder
from cashless.taxonomy import NONCASH_METHODS, load_taxonomy

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"


def test_packaged_districts_are_hanois_30_with_population() -> None:
    taxonomy = load_taxonomy()
    assert len(taxonomy.districts) == 30
    assert taxonomy.districts["hoan-kiem"].population == 160_600
    assert 7_700_000 < taxonomy.population < 7_800_000


def test_packaged_segments_cover_three_channels() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.has_segment("utility", "electricity")
    assert taxonomy.has_segment("market", "dong-xuan")
    assert taxonomy.has_segment("street", "hang-dao")
    assert not taxonomy.has_segment("utility", "dong-xuan")
    assert taxonomy.segments["market", "dong-xuan"].district == "hoan-kiem"


@pytest.mark.skipif(not REFERENCE.exists(), reason="shared reference not beside the checkout")
def test_packaged_tables_equal_the_shared_reference() -> None:
    with (REFERENCE / "hanoi_districts.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    taxonomy = load_taxonomy()
    assert {r["slug"]: int(r["population_2018"]) for r in rows} == {
        d.slug: d.population for d in taxonomy.districts.values()
    }
    with (REFERENCE / "segments.csv").open(encoding="utf-8") as f:
        assert {(r["channel"], r["segment"]) for r in csv.DictReader(f)} == set(taxonomy.segments)


def test_cash_is_the_only_cash_method() -> None:
    assert "cash" not in NONCASH_METHODS
    assert {
        "card",
        "qr",
        "e_wallet",
        "bank_transfer",
        "direct_debit",
        "mobile_money",
    } <= NONCASH_METHODS


def test_user_file_replaces_the_taxonomy(tmp_path: Path) -> None:
    districts = tmp_path / "d.csv"
    districts.write_text("slug,name,population_2018\nward-1,Ward 1,1000\n", "utf-8")
    segments = tmp_path / "s.csv"
    segments.write_text(
        "channel,segment,name,district\nmarket,night-market,Night,ward-1\n", "utf-8"
    )
    taxonomy = load_taxonomy(districts, segments)
    assert list(taxonomy.districts) == ["ward-1"]
    decoder = EventDecoder(taxonomy)
    event = (
        b'{"schema":1,"event_id":"e","occurred_at":"2026-01-01T00:00:00+07:00","source":"s",'
        b'"channel":"market","segment":"night-market","district":"ward-1","method":"qr",'
        b'"amount_vnd":5}'
    )
    assert len(decoder.decode_payments(event).events) == 1
    hoan_kiem = event.replace(b"ward-1", b"hoan-kiem")
    assert [r.reason for r in decoder.decode_payments(hoan_kiem).rejections] == ["unknown_district"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("slug,name\nx,X\n", "missing column(s) population_2018"),
        ("slug,name,population_2018\nX Y,X,10\n", "is not a slug"),
        ("slug,name,population_2018\nx,X,ten\n", "not an integer"),
        ("slug,name,population_2018\nx,X,10\nx,X,10\n", "listed twice"),
        ("slug,name,population_2018\n", "no rows"),
    ],
)
def test_bad_district_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(content, "utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_taxonomy(path)


def test_segment_in_unknown_district_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("channel,segment,name,district\nmarket,x,X,atlantis\n", "utf-8")
    with pytest.raises(ConfigError, match="atlantis"):
        load_taxonomy(segments_file=path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.csv")
