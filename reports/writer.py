"""Writing a report: the formats asked for, each section drawn once and used by all of them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from reports.charts import SECTIONS, draw, entitle
from reports.figures import Picture
from reports.labels import Labels
from reports.page import render_page, svg

__all__ = ["FORMATS", "write_report"]

FORMATS = ("html", "png", "pdf", "json")


def _figures_json(picture: Picture, lang: str) -> dict[str, Any]:
    def projection(p: Any) -> dict[str, object]:
        return p.as_json()  # type: ignore[no-any-return]

    return {
        "at": picture.at.isoformat(),
        "stream_time": picture.stream_time.isoformat() if picture.stream_time else None,
        "range_seconds": picture.range_seconds,
        "lang": lang,
        "deadline": picture.deadline.isoformat(),
        "deadline_passed": picture.deadline_passed,
        "projections": {
            "city_noncash": projection(picture.city_projection),
            "city_accounts": projection(picture.coverage_projection),
            "segments": {
                f"{r.channel}:{r.slug}": projection(r.projection)
                for r in picture.segments
                if r.share is not None
            },
            "districts": {
                r.slug: projection(r.projection) for r in picture.districts if r.share is not None
            },
        },
        "suppressed": {
            "segments": sorted(
                f"{r.channel}:{r.slug}" for r in picture.segments if r.share is None
            ),
            "districts": sorted(r.slug for r in picture.districts if r.share is None),
        },
        "alerts": [asdict(a) for a in picture.alerts],
        "figures": [asdict(f) for f in picture.figures],
    }


def write_report(
    picture: Picture,
    words: Labels,
    formats: Iterable[str],
    out: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Path]:
    """Write the `formats` of the report into `out`; the paths written, in order."""
    wanted = list(formats)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    figures: dict[str, Figure] = {}
    if set(wanted) & {"html", "png", "pdf"}:
        for section in SECTIONS:
            progress(f"drawing {section}")
            figures[section] = draw(section, picture, words)
    svgs = {section: svg(figure) for section, figure in figures.items()} if "html" in wanted else {}
    for section, figure in figures.items():
        entitle(figure, words[f"section.{section}"])
    if "json" in wanted:
        path = out / "report.json"
        text = json.dumps(_figures_json(picture, words.lang), ensure_ascii=False, indent=1)
        _replace(path, text.encode("utf-8"))
        written.append(path)
    if "png" in wanted:
        for section, figure in figures.items():
            path = out / f"{section}.png"
            figure.savefig(path.with_suffix(".png.tmp"), format="png")
            path.with_suffix(".png.tmp").replace(path)
            written.append(path)
    if "pdf" in wanted:
        path = out / "report.pdf"
        partial = path.with_suffix(".pdf.tmp")
        with PdfPages(partial, metadata={"Title": words["title"], "CreationDate": None}) as pdf:
            for figure in figures.values():
                pdf.savefig(figure)
        partial.replace(path)
        written.append(path)
    if "html" in wanted:
        progress("writing the page")
        path = out / "index.html"
        _replace(path, render_page(picture, words, svgs).encode("utf-8"))
        written.append(path)
    return written


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file: a reader never sees half a report."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(data)
    partial.replace(path)
