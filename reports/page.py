"""`index.html`: one self-contained page — styles, the font and every chart inline, so it opens
from disk with no request to any server (its Content-Security-Policy forbids any)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
import matplotlib
from matplotlib.figure import Figure

from reports.charts import SECTIONS
from reports.figures import Picture
from reports.labels import Labels
from reports.projection import HANOI

__all__ = ["render_page", "svg"]

_FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("reports", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True)
class _Cell:
    text: str
    css: str = ""


@dataclass
class _Section:
    id: str
    title: str
    svg: str
    header: list[str] = field(default_factory=list)
    rows: list[list[_Cell]] = field(default_factory=list)
    empty: str = ""


def svg(figure: Figure) -> str:
    """A section's picture as an `<svg>` element to inline (text drawn as paths)."""
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]


def _share(value: float | None, goal: float | None, words: Labels) -> _Cell:
    if value is None:
        return _Cell(words["too_few"], "absent")
    css = "above" if goal is not None and value >= goal else "below"
    return _Cell(words.percent(value), f"num {css}")


def _tables(picture: Picture, words: Labels) -> dict[str, tuple[list[str], list[list[_Cell]], str]]:
    goal, accounts = picture.goal_noncash, picture.goal_accounts
    segments = [
        [
            _Cell(words["channel." + r.channel]),
            _Cell(r.name),
            _share(r.share, goal, words),
            _Cell("—" if r.trend is None else words.points_per_day(r.trend), "num"),
            _Cell(words.projection(r.projection)),
        ]
        for r in picture.segments
    ]
    districts = [
        [
            _Cell(r.name),
            _share(r.share, goal, words),
            _share(r.coverage, accounts, words),
            _Cell(words.projection(r.projection)),
        ]
        for r in picture.districts
    ]
    attention = [
        [
            _Cell(r.name),
            _share(r.share, goal, words),
            _Cell("—" if r.trend is None else words.points_per_day(r.trend), "num"),
            _Cell(words["stalled" if r.stalled else "below_goal"]),
        ]
        for r in picture.attention
    ]
    rejected = [
        [_Cell(reason), _Cell(words.number(count), "num")]
        for reason, count in sorted(picture.rejected.items(), key=lambda item: -item[1])
    ]
    alerts = [
        [_Cell(a.name), _Cell(a.severity), _Cell(a.starts_at), _Cell(a.summary)]
        for a in picture.alerts
    ]
    share, trend = words["share"], words["trend_per_day"]
    return {
        "segments": (
            [words["kind"], words["name"], share, trend, words["projected"]],
            segments,
            "",
        ),
        "districts": (
            [words["district"], share, words["coverage"], words["projected"]],
            districts,
            "",
        ),
        "attention": (
            [words["name"], share, trend, words["status"]],
            attention,
            words["nothing_stalled"],
        ),
        "quality": ([words["reason"], words["count"]], rejected, ""),
        "alerts": (
            [words["alert"], words["severity"], words["since"], words["summary"]],
            alerts,
            words["no_alerts"],
        ),
    }


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(HANOI).strftime("%Y-%m-%d %H:%M (UTC+7)")


def render_page(picture: Picture, words: Labels, svgs: dict[str, str]) -> str:
    """The page, from the sections' pictures as SVG (one per entry of `SECTIONS`)."""
    tables = _tables(picture, words)
    sections = []
    for key in SECTIONS:
        header, rows, empty = tables.get(key, ([], [], ""))
        sections.append(_Section(key, words[f"section.{key}"], svgs[key], header, rows, empty))
    return _TEMPLATES.get_template("report.html.j2").render(
        lang=words.lang,
        words=words,
        at=_when(picture.at),
        stream_time=_when(picture.stream_time),
        sections=sections,
        font=base64.b64encode(_FONT.read_bytes()).decode("ascii"),
    )
