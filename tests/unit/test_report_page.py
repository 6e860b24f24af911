"""The report as a reader gets it: rendered from a made-up picture (no server), opened by a real
headless Chromium from disk with the network off; its images decode and are not blank; its PDF
has pages; and its Vietnamese labels are Vietnamese."""

from __future__ import annotations

import os
import shutil
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from matplotlib import image

from cashless.taxonomy import load_taxonomy
from reports.charts import SECTIONS
from reports.figures import DistrictRow, Picture, SegmentRow, TrendLine
from reports.labels import LANGUAGES, Labels, keys
from reports.projection import Projection, projection_from_days
from reports.sources import Alert
from reports.writer import write_report

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".cashless" / "test-artifacts"
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DEADLINE = date(2025, 12, 31)


def _picture() -> Picture:
    taxonomy = load_taxonomy()
    base = AT
    segments = [
        SegmentRow(
            s.channel,
            s.slug,
            s.name,
            share=None if i % 7 == 3 else (i % 10) / 10,  # a few cells with too few events
            trend=0.001 * ((i % 5) - 2),
            projection=projection_from_days(40.0 + i, base, DEADLINE),
            stalled=i % 10 < 5 and (i % 5) - 2 <= 0,
        )
        for i, s in enumerate(taxonomy.segments.values())
    ]
    districts = [
        DistrictRow(
            d.slug,
            d.name,
            share=None if i == 4 else 0.3 + i / 100,
            coverage=0.35 + i / 90,
            projection=Projection("reached", days=0.0),
        )
        for i, d in enumerate(taxonomy.districts.values())
    ]
    start = AT.timestamp() - 30 * 86_400
    trend = [(start + k * 10_800, 0.4 + k / 2_400) for k in range(240)]
    return Picture(
        at=AT,
        range_seconds=30 * 86_400,
        deadline=DEADLINE,
        stream_time=AT,
        goal_noncash=0.5,
        goal_accounts=0.5,
        city_share=0.47,
        city_coverage=0.52,
        city_projection=projection_from_days(60.0, base, DEADLINE),
        coverage_projection=Projection("reached", days=0.0),
        segments=segments,
        districts=districts,
        trends=[TrendLine("city_share_30d", trend, "q"), TrendLine("coverage", [], "q")],
        rejected={"unknown_district": 12.0, "bad_json": 3.0},
        duplicates=40.0,
        late=2.0,
        silent={"hawaco": 100_000.0},
        alerts=[Alert("CashlessAdoptionStalled", "warning", "Chợ Hôm stalled", AT.isoformat(), {})],
    )


@pytest.fixture(scope="module", params=LANGUAGES)
def written(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(f"report-{request.param}")
    write_report(_picture(), Labels(request.param), ["html", "png", "pdf", "json"], out)
    return request.param, out


def _chromium() -> str:
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("chromium is missing: `make install` installs Debian's chromium")


def test_the_page_opens_from_disk_offline_with_no_error_and_every_section(
    written: tuple[str, Path],
) -> None:
    from playwright.sync_api import sync_playwright

    lang, out = written
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1100, "height": 1000})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((out / "index.html").as_uri(), wait_until="load")
            sections = [s.get_attribute("id") for s in page.query_selector_all("section")]
            headings = [h.inner_text() for h in page.query_selector_all("section h2")]
            svgs = page.eval_on_selector_all("section svg", "els => els.length")
            font_ready = page.evaluate("document.fonts.check('16px \"DejaVu Sans\"')")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"report-{lang}.png", full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [(out / "index.html").as_uri()], "the page asks no server for anything"
    assert sections == list(SECTIONS)
    assert headings == [Labels(lang)[f"section.{s}"] for s in SECTIONS]
    assert svgs == len(SECTIONS)
    assert font_ready


def test_each_section_image_decodes_and_is_not_blank(written: tuple[str, Path]) -> None:
    _, out = written
    for section in SECTIONS:
        pixels = image.imread(out / f"{section}.png")
        assert pixels.shape[0] > 100, section
        assert pixels.shape[1] >= 900, section
        assert pixels[..., :3].std() > 0.05, f"{section}.png is blank"


def test_the_pdf_has_a_page_per_section(written: tuple[str, Path]) -> None:
    _, out = written
    data = (out / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") >= 1
    assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") == len(SECTIONS)


def test_suppressed_cells_read_too_few_events_never_zero(written: tuple[str, Path]) -> None:
    lang, out = written
    html = (out / "index.html").read_text("utf-8")
    words = Labels(lang)
    assert words["too_few"] in html
    picture = _picture()
    absent = sum(r.share is None for r in picture.segments) + sum(
        r.share is None for r in picture.districts
    )
    assert html.count(f'class="absent">{words["too_few"]}<') == absent


def test_every_label_has_a_vietnamese_text_with_its_diacritics() -> None:
    en, vi = Labels("en"), Labels("vi")
    for key in keys():
        assert vi[key].strip(), key
        assert vi[key] != en[key], f"{key} is not translated"
        assert unicodedata.is_normalized("NFC", vi[key]), key
    marked = [
        k
        for k in keys()
        if any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", vi[k]))
    ]
    assert len(marked) > 0.8 * len(keys()), "Vietnamese is written with its diacritics"
    assert vi["section.districts"] == "Quận, huyện, thị xã"


def test_numbers_and_dates_as_each_language_writes_them() -> None:
    en, vi = Labels("en"), Labels("vi")
    assert (en.percent(0.4321), vi.percent(0.4321)) == ("43.2%", "43,2%")
    assert (en.number(1_250_000), vi.number(1_250_000)) == ("1,250,000", "1.250.000")
    assert (en.date(date(2027, 3, 14)), vi.date(date(2027, 3, 14))) == (
        "14 March 2027",
        "14/03/2027",
    )
    assert vi.points_per_day(0.0012) == "+0,12 điểm phần trăm mỗi ngày"
    with pytest.raises(ValueError, match="unknown language"):
        Labels("fr")


def test_no_english_text_leaks_into_the_vietnamese_page(tmp_path: Path) -> None:
    write_report(_picture(), Labels("vi"), ["html"], tmp_path)
    html = (tmp_path / "index.html").read_text("utf-8")
    english = Labels("en")
    leaked = [english[k] for k in keys() if len(english[k]) > 6 and f">{english[k]}<" in html]
    assert leaked == []
