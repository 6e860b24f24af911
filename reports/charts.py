"""One picture per section (matplotlib, Agg: no display, no browser, no network), the same one
written as `<section>.png`, inlined as SVG in the page and printed as a page of the PDF.

DejaVu Sans, matplotlib's own font, has every Vietnamese diacritic; SVG text is drawn as paths,
so the page needs no font to show the charts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports.figures import Picture, SegmentRow
from reports.labels import Labels
from reports.projection import HANOI

__all__ = ["SECTIONS", "draw", "entitle"]

SECTIONS = ("headline", "segments", "districts", "trends", "attention", "quality", "alerts")

_GREEN, _RED, _GREY, _GOAL, _INK = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0", "#212121"
_LINES = {"city_share_1d": "#90a4ae", "city_share_30d": "#2e7d32", "coverage": "#6a1b9a"}
_WIDTH = 10.0  # inches, at 100 dpi: 1000-pixel images
_ROW = 0.28  # inches per bar
matplotlib.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "svg.fonttype": "path",
        "svg.hashsalt": "cashless",  # the same picture gives the same SVG
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def draw(section: str, picture: Picture, words: Labels) -> Figure:
    """The picture of one section."""
    drawers = {
        "headline": _headline,
        "segments": _segments,
        "districts": _districts,
        "trends": _trends,
        "attention": _attention,
        "quality": _quality,
        "alerts": _alerts,
    }
    return drawers[section](picture, words)


def entitle(figure: Figure, title: str) -> None:
    """Give a section's picture its title, for the images that stand alone (PNG, PDF); the page
    has its own headings."""
    figure.suptitle(title, x=0.01, ha="left", fontsize=15, fontweight="bold", color=_INK)


def _figure(height: float, title: str) -> Figure:
    del title  # the section's title: `entitle` adds it where it is wanted
    return Figure(figsize=(_WIDTH, height), dpi=100, layout="constrained")


def _percent_axis(axes: Axes, words: Labels, axis: str = "x") -> None:
    ticks = [0, 0.25, 0.5, 0.75, 1]
    texts = [words.percent(t, 0) for t in ticks]
    if axis == "x":
        axes.set_xlim(0, 1)
        axes.set_xticks(ticks, texts)
    else:
        axes.set_ylim(0, 1)
        axes.set_yticks(ticks, texts)


_TITLE_OVER_GOAL = 16  # points: the goal line's label fits between the axes and the title


def _goal_line(axes: Axes, goal: float | None, words: Labels, axis: str = "x") -> None:
    if goal is None:
        return
    text = f" {words['goal_line']} {words.percent(goal, 0)}"
    if axis == "x":
        axes.axvline(goal, color=_GOAL, linestyle="--", linewidth=1.5)
        axes.text(goal, 1.0, text, color=_GOAL, fontsize=9, transform=axes.get_xaxis_transform())
    else:
        axes.axhline(goal, color=_GOAL, linestyle="--", linewidth=1.5)
        axes.text(0.0, goal, text, color=_GOAL, fontsize=9, transform=axes.get_yaxis_transform())


def _colour(value: float, goal: float | None) -> str:
    return _GREEN if goal is not None and value >= goal else _RED


def _gauge(axes: Axes, title: str, value: float | None, goal: float | None, words: Labels) -> None:
    _percent_axis(axes, words)
    axes.set_yticks([])
    axes.set_ylim(-0.5, 0.8)
    axes.set_title(title, loc="left", fontsize=11, color=_INK, pad=_TITLE_OVER_GOAL)
    if value is None:
        axes.text(0.5, 0, words["too_few"], ha="center", va="center", color=_GREY, fontsize=14)
    else:
        axes.barh([0], [value], color=_colour(value, goal), height=0.7)
        axes.text(
            min(value, 0.75) + 0.02,
            0,
            words.percent(value),
            va="center",
            fontsize=20,
            fontweight="bold",
            color=_INK,
        )
    _goal_line(axes, goal, words)


def _headline(picture: Picture, words: Labels) -> Figure:
    figure = _figure(4.2, words["section.headline"])
    share, coverage = figure.subplots(2, 1)
    _gauge(share, words["noncash_share_30d"], picture.city_share, picture.goal_noncash, words)
    _gauge(coverage, words["coverage"], picture.city_coverage, picture.goal_accounts, words)
    deadline = words.date(picture.deadline)
    passed = words["deadline_passed" if picture.deadline_passed else "deadline_ahead"]
    for axes, projection in (
        (share, picture.city_projection),
        (coverage, picture.coverage_projection),
    ):
        text = (
            f"{words['projected']}: {words.projection(projection)}    "
            f"{words['deadline']}: {deadline} ({passed})"
        )
        axes.set_xlabel(text, loc="left", fontsize=10, color=_INK)
    return figure


def _bars(
    axes: Axes,
    names: list[str],
    values: list[float | None],
    goal: float | None,
    words: Labels,
    title: str,
) -> None:
    positions = list(range(len(names)))[::-1]
    for y, value in zip(positions, values, strict=True):
        if value is None:
            axes.text(0.01, y, words["too_few"], va="center", fontsize=8, color=_GREY)
        else:
            axes.barh([y], [value], color=_colour(value, goal), height=0.7)
            axes.text(
                value + 0.01,
                y,
                words.percent(value),
                va="center",
                fontsize=8,
                color=_INK,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},  # over the goal line
                zorder=3,
            )
    axes.set_yticks(positions, names, fontsize=8)
    axes.set_ylim(-0.7, len(names) - 0.3)
    _percent_axis(axes, words)
    axes.set_title(title, loc="left", fontsize=11, color=_INK, pad=_TITLE_OVER_GOAL)
    _goal_line(axes, goal, words)


def _segment_name(row: SegmentRow, words: Labels) -> str:
    return f"{words['channel.' + row.channel]} · {row.name}"


def _segments(picture: Picture, words: Labels) -> Figure:
    rows = picture.segments
    figure = _figure(1.2 + _ROW * max(len(rows), 3), words["section.segments"])
    axes = figure.subplots()
    names = [_segment_name(r, words) for r in rows]
    _bars(
        axes,
        names,
        [r.share for r in rows],
        picture.goal_noncash,
        words,
        words["noncash_share_30d"],
    )
    return figure


def _districts(picture: Picture, words: Labels) -> Figure:
    rows = picture.districts
    figure = _figure(1.2 + _ROW * max(len(rows), 3), words["section.districts"])
    share, coverage = figure.subplots(1, 2, sharey=True)
    names = [r.name for r in rows]
    _bars(
        share,
        names,
        [r.share for r in rows],
        picture.goal_noncash,
        words,
        words["noncash_share_30d"],
    )
    _bars(
        coverage, names, [r.coverage for r in rows], picture.goal_accounts, words, words["coverage"]
    )
    return figure


def _trends(picture: Picture, words: Labels) -> Figure:
    figure = _figure(4.5, words["section.trends"])
    axes = figure.subplots()
    names = {
        "city_share_1d": words["city_share_1d"],
        "city_share_30d": words["city_share_30d"],
        "coverage": words["coverage"],
    }
    drawn = False
    for line in picture.trends:
        if line.points:
            times = mdates.date2num(  # type: ignore[no-untyped-call]
                [datetime.fromtimestamp(t, UTC) for t, _ in line.points]
            )
            axes.plot(
                times,
                [v for _, v in line.points],
                label=names[line.key],
                color=_LINES[line.key],
                linewidth=2,
                marker="o" if len(line.points) < 20 else None,
            )
            drawn = True
    if not drawn:
        axes.text(
            0.5,
            0.5,
            words["no_data"],
            ha="center",
            va="center",
            color=_GREY,
            transform=axes.transAxes,
        )
    start = picture.at.timestamp() - picture.range_seconds
    first = min((t for line in picture.trends for t, _ in line.points), default=start)
    if first > start:  # Prometheus holds less than the range: show what it holds
        axes.set_xlabel(
            f"{words['history_since']} {words.moment(datetime.fromtimestamp(first, UTC))}",
            loc="left",
            fontsize=9,
            color=_GREY,
        )
        start = max(start, first - 0.05 * (picture.at.timestamp() - first))
    axes.set_xlim(
        mdates.date2num(datetime.fromtimestamp(start, UTC)),  # type: ignore[no-untyped-call]
        mdates.date2num(picture.at),  # type: ignore[no-untyped-call]
    )
    _percent_axis(axes, words, axis="y")
    _goal_line(axes, picture.goal_noncash, words, axis="y")
    ticks = mdates.AutoDateLocator(tz=HANOI)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(ticks)
    axes.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(ticks, tz=HANOI)  # type: ignore[no-untyped-call]
    )
    if drawn:
        axes.legend(loc="lower right", fontsize=9)
    return figure


def _table(
    axes: Axes, header: list[str], rows: list[list[str]], widths: list[float], empty: str
) -> None:
    axes.axis("off")
    if not rows:
        axes.text(0, 0.5, empty, fontsize=11, color=_INK, va="center")
        return
    table = axes.table(
        cellText=rows, colLabels=header, colWidths=widths, loc="upper left", cellLoc="left"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.4)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#e0e0e0")
        if row == 0:
            cell.set_text_props(fontweight="bold")


def _attention(picture: Picture, words: Labels) -> Figure:
    rows = picture.attention
    figure = _figure(1.2 + 0.3 * max(len(rows), 2), words["section.attention"])
    header = [
        words["name"],
        words["share"],
        words["trend_per_day"],
        words["status"],
        words["projected"],
    ]
    cells = [
        [
            _segment_name(r, words),
            words.share(r.share),
            "—" if r.trend is None else words.points_per_day(r.trend),
            words["stalled" if r.stalled else "below_goal"],
            words.projection(r.projection),
        ]
        for r in rows
    ]
    widths = [0.27, 0.12, 0.17, 0.12, 0.32]
    _table(figure.subplots(), header, cells, widths, words["nothing_stalled"])
    return figure


def _quality(picture: Picture, words: Labels) -> Figure:
    figure = _figure(3.6, words["section.quality"])
    bars, facts = figure.subplots(1, 2, width_ratios=[3, 2])
    reasons = sorted(picture.rejected.items(), key=lambda item: -item[1])
    if reasons:
        positions = list(range(len(reasons)))[::-1]
        bars.barh(positions, [count for _, count in reasons], color=_RED, height=0.6)
        bars.set_yticks(positions, [reason for reason, _ in reasons], fontsize=8)
        for y, (_, count) in zip(positions, reasons, strict=True):
            bars.text(count, y, f" {words.number(count)}", va="center", fontsize=8)
    else:
        bars.text(0.5, 0.5, words["none"], ha="center", va="center", transform=bars.transAxes)
        bars.set_yticks([])
    bars.set_title(words["rejected"], loc="left", fontsize=11, color=_INK)
    facts.axis("off")
    silent = ", ".join(sorted(picture.silent)) or words["none"]
    lines = [
        f"{words['duplicates']}: {_count(picture.duplicates, words)}",
        f"{words['late']}: {_count(picture.late, words)}",
        f"{words['silent_sources']}: {silent}",
    ]
    facts.text(0, 0.9, "\n\n".join(lines), va="top", fontsize=10, color=_INK, wrap=True)
    return figure


def _count(value: float | None, words: Labels) -> str:
    return words["no_data"] if value is None else words.number(value)


def _alerts(picture: Picture, words: Labels) -> Figure:
    alerts = picture.alerts
    figure = _figure(1.2 + 0.3 * max(len(alerts), 2), words["section.alerts"])
    header = [words["alert"], words["severity"], words["since"], words["summary"]]
    rows = [
        [a.name, a.severity, a.starts_at[:16].replace("T", " "), a.summary[:70]] for a in alerts
    ]
    _table(figure.subplots(), header, rows, [0.3, 0.1, 0.18, 0.42], words["no_alerts"])
    return figure
