"""The adoption picture: every figure the report shows, read from Prometheus and Alertmanager with
the PromQL the Grafana panels use (`cashless.promql`), each kept with the query it came from.

A cell that `/metrics` suppresses (fewer than `min_cell` events) has no series: it stays absent
here (None), and the views show it as "too few events", never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cashless import promql
from cashless.taxonomy import Taxonomy
from reports.projection import Projection, projection_from_days
from reports.sources import Alert, Alertmanager, Prometheus

__all__ = ["DistrictRow", "Figure", "Picture", "SegmentRow", "TrendLine", "gather"]

_POINTS = 240  # samples per trend line
_MIN_STEP = 15.0  # seconds: Prometheus' scrape interval


@dataclass(frozen=True)
class Figure:
    """One number the report shows, and the query that gave it."""

    section: str
    name: str
    labels: dict[str, str]
    value: Any
    query: str


@dataclass(frozen=True)
class SegmentRow:
    """A utility service, market or street: its 30-day share, trend and projection."""

    channel: str
    slug: str
    name: str
    share: float | None
    trend: float | None
    projection: Projection
    stalled: bool = False


@dataclass(frozen=True)
class DistrictRow:
    """A district: its 30-day share (all channels), account coverage and projection."""

    slug: str
    name: str
    share: float | None
    coverage: float | None
    projection: Projection


@dataclass(frozen=True)
class TrendLine:
    """One line of the trends chart."""

    key: str
    points: list[tuple[float, float]]
    query: str


@dataclass
class Picture:
    """Everything the report shows."""

    at: datetime
    range_seconds: int
    deadline: date
    stream_time: datetime | None = None
    goal_noncash: float | None = None
    goal_accounts: float | None = None
    city_share: float | None = None
    city_coverage: float | None = None
    city_projection: Projection = field(default_factory=lambda: Projection("no_trend"))
    coverage_projection: Projection = field(default_factory=lambda: Projection("no_trend"))
    segments: list[SegmentRow] = field(default_factory=list)
    districts: list[DistrictRow] = field(default_factory=list)
    trends: list[TrendLine] = field(default_factory=list)
    rejected: dict[str, float] = field(default_factory=dict)
    duplicates: float | None = None
    late: float | None = None
    silent: dict[str, float] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    @property
    def deadline_passed(self) -> bool:
        """True when the goal's deadline is before the day of `at`."""
        return self.at.date() > self.deadline

    @property
    def attention(self) -> list[SegmentRow]:
        """Segments below the goal, stalled ones first, lowest share first."""
        goal = self.goal_noncash
        below = [
            s for s in self.segments if s.share is not None and goal is not None and s.share < goal
        ]
        return sorted(below, key=lambda s: (not s.stalled, s.share))


class _Reader:
    """Runs queries and keeps each answer as a figure of its section."""

    def __init__(self, prometheus: Prometheus, figures: list[Figure]) -> None:
        self.prometheus = prometheus
        self.figures = figures

    def scalar(self, section: str, name: str, expr: str) -> float | None:
        value = self.prometheus.scalar(expr)
        self.figures.append(Figure(section, name, {}, value, expr))
        return value

    def by(self, section: str, name: str, expr: str, *keys: str) -> dict[tuple[str, ...], float]:
        values = {}
        for sample in self.prometheus.vector(expr):
            key = tuple(sample.labels.get(k, "") for k in keys)
            values[key] = sample.value
            labels = {k: sample.labels.get(k, "") for k in keys}
            self.figures.append(Figure(section, name, labels, sample.value, expr))
        return values


def gather(
    prometheus: Prometheus,
    alertmanager: Alertmanager,
    taxonomy: Taxonomy,
    range_seconds: int,
    deadline: date,
) -> Picture:
    """Read the whole picture at `prometheus.at`."""
    picture = Picture(at=prometheus.at, range_seconds=range_seconds, deadline=deadline)
    read = _Reader(prometheus, picture.figures)
    stream_time = read.scalar("headline", "stream_time", "max(cashless_stream_time_seconds)")
    if stream_time is not None:
        picture.stream_time = datetime.fromtimestamp(stream_time, UTC)
    base = picture.stream_time or picture.at
    picture.goal_noncash = read.scalar("headline", "goal_noncash", promql.GOAL_NONCASH)
    picture.goal_accounts = read.scalar("headline", "goal_accounts", promql.GOAL_ACCOUNTS)
    picture.city_share = read.scalar("headline", "city_noncash_share", promql.CITY_SHARE)
    picture.city_coverage = read.scalar("headline", "city_account_coverage", promql.CITY_COVERAGE)
    read.scalar("headline", "city_trend_per_day", promql.CITY_TREND)
    read.scalar("headline", "coverage_trend_per_day", promql.COVERAGE_TREND)
    days = read.scalar("headline", "city_days_to_goal", promql.city_projection(as_date=False))
    picture.city_projection = projection_from_days(days, base, deadline)
    days = read.scalar(
        "headline", "coverage_days_to_goal", promql.coverage_projection(as_date=False)
    )
    picture.coverage_projection = projection_from_days(days, picture.at, deadline)
    _segments(read, picture, taxonomy, base)
    _districts(read, picture, taxonomy, base)
    _trends(read, picture)
    _quality(read, picture)
    picture.alerts = alertmanager.firing()
    for alert in picture.alerts:
        picture.figures.append(
            Figure("alerts", "alert", alert.labels, alert.starts_at, "GET /api/v2/alerts")
        )
    return picture


def _segments(read: _Reader, picture: Picture, taxonomy: Taxonomy, base: datetime) -> None:
    keys = ("channel", "segment")
    shares = read.by("segments", "noncash_share_30d", promql.SEGMENT_SHARE, *keys)
    trends = read.by("segments", "trend_per_day", promql.SEGMENT_TREND, *keys)
    days = read.by("segments", "days_to_goal", promql.projection(as_date=False), *keys)
    stalled = read.by("attention", "stalled_share_30d", promql.stalled(), *keys)
    rows = [
        SegmentRow(
            channel=s.channel,
            slug=s.slug,
            name=s.name,
            share=shares.get((s.channel, s.slug)),
            trend=trends.get((s.channel, s.slug)),
            projection=projection_from_days(days.get((s.channel, s.slug)), base, picture.deadline),
            stalled=(s.channel, s.slug) in stalled,
        )
        for s in taxonomy.segments.values()
    ]
    picture.segments = sorted(rows, key=_ranking)


def _ranking(row: SegmentRow | DistrictRow) -> tuple[bool, float, str]:
    """Highest share first; cells without a share (too few events) last, by name."""
    return (row.share is None, -(row.share or 0.0), row.name)


def _districts(read: _Reader, picture: Picture, taxonomy: Taxonomy, base: datetime) -> None:
    shares = read.by("districts", "noncash_share_30d", promql.DISTRICT_SHARE, "district")
    coverage = read.by("districts", "account_coverage", promql.DISTRICT_COVERAGE, "district")
    read.by("districts", "trend_per_day", promql.DISTRICT_TREND, "district")
    days = read.by(
        "districts", "days_to_goal", promql.district_projection(as_date=False), "district"
    )
    rows = [
        DistrictRow(
            slug=d.slug,
            name=d.name,
            share=shares.get((d.slug,)),
            coverage=coverage.get((d.slug,)),
            projection=projection_from_days(days.get((d.slug,)), base, picture.deadline),
        )
        for d in taxonomy.districts.values()
    ]
    picture.districts = sorted(rows, key=_ranking)


def _trends(read: _Reader, picture: Picture) -> None:
    start = picture.at - timedelta(seconds=picture.range_seconds)
    step = max(_MIN_STEP, picture.range_seconds / _POINTS)
    lines = (
        ("city_share_1d", promql.city_share("1d")),
        ("city_share_30d", promql.CITY_SHARE),
        ("coverage", promql.CITY_COVERAGE),
    )
    for key, expr in lines:
        series = read.prometheus.range(expr, start, step)
        points = series[0][1] if series else []
        if points and points[0][0] - step > start.timestamp():
            # Prometheus holds less than the range (a young stack): the line starts within a
            # step of its first sample, so draw that stretch again at a step that shows it.
            since = datetime.fromtimestamp(points[0][0] - step, UTC)
            fine = max(_MIN_STEP, (picture.at - since).total_seconds() / _POINTS)
            series = read.prometheus.range(expr, since, fine)
            points = series[0][1] if series else []
        picture.trends.append(TrendLine(key, points, expr))
        read.figures.append(Figure("trends", key, {}, points, expr))


def _quality(read: _Reader, picture: Picture) -> None:
    picture.rejected = {
        reason: value
        for (reason,), value in read.by(
            "quality", "rejected", promql.REJECTED_BY_REASON, "reason"
        ).items()
    }
    picture.duplicates = read.scalar("quality", "duplicates", promql.DUPLICATES)
    picture.late = read.scalar("quality", "late", promql.LATE)
    silence = read.by("quality", "source_silence_seconds", promql.SOURCE_SILENCE, "source")
    picture.silent = {
        source: seconds
        for (source,), seconds in silence.items()
        if seconds > promql.SILENT_AFTER_SECONDS
    }
