"""`cashless report`: the adoption picture as a page, images, a PDF and its figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from cashless.durations import parse_duration
from cashless.errors import ConfigError
from cashless.promql import GOAL_DEADLINE
from cashless.settings import TaxonomySettings
from cli.common import friendly_errors
from reports.figures import gather
from reports.labels import LANGUAGES, Labels
from reports.sources import Alertmanager, Prometheus
from reports.writer import FORMATS, write_report

__all__ = ["make_report", "report_command"]

"""The end of the programme whose goals the report measures against."""


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"--format {text!r}: choose from {','.join(FORMATS)} (comma-separated)")
    return formats


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = (
            datetime.fromtimestamp(float(text), UTC)
            if text.replace(".", "", 1).isdigit()
            else datetime.fromisoformat(text)
        )
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an RFC 3339 time or Unix seconds") from None
    if moment.tzinfo is None:
        raise ConfigError(f"--at {text!r} has no UTC offset (e.g. 2026-12-03T09:00:00+07:00)")
    return moment


def _deadline(text: str | None) -> date:
    if text is None:
        return GOAL_DEADLINE
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--deadline {text!r} is not a date like 2025-12-31") from None


def make_report(
    prometheus_url: str,
    alertmanager_url: str,
    out: Path,
    *,
    range_text: str = "30d",
    at: str | None = None,
    lang: str = "en",
    formats: str = ",".join(FORMATS),
    deadline: str | None = None,
    progress: bool = False,
) -> list[Path]:
    """Gather the picture and write the report; the files written."""
    seconds = int(parse_duration(range_text))
    wanted = _formats(formats)
    words = Labels(lang)
    taxonomy = TaxonomySettings().load()
    picture = gather(
        Prometheus(prometheus_url, _moment(at)),
        Alertmanager(alertmanager_url),
        taxonomy,
        seconds,
        _deadline(deadline),
    )

    def say(step: str) -> None:
        if progress:
            click.echo(f"  {step}", err=True)

    return write_report(picture, words, wanted, out, progress=say)


@click.command("report")
@click.option(
    "--prometheus-url",
    envvar="CASHLESS_PROMETHEUS_URL",
    default="http://127.0.0.1:9090",
    show_default=True,
    help="Prometheus to read the metrics from [env CASHLESS_PROMETHEUS_URL].",
)
@click.option(
    "--alertmanager-url",
    envvar="CASHLESS_ALERTMANAGER_URL",
    default="http://127.0.0.1:9093",
    show_default=True,
    help="Alertmanager to read the firing alerts from [env CASHLESS_ALERTMANAGER_URL].",
)
@click.option(
    "--range",
    "range_text",
    envvar="CASHLESS_REPORT_RANGE",
    default="30d",
    show_default=True,
    help="How far back the trend lines go (90m, 12h, 30d, 8w) [env CASHLESS_REPORT_RANGE].",
)
@click.option(
    "--at",
    envvar="CASHLESS_REPORT_AT",
    help="The moment to report on, RFC 3339 or Unix seconds [env CASHLESS_REPORT_AT; default now].",
)
@click.option(
    "--lang",
    envvar="CASHLESS_REPORT_LANG",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the labels [env CASHLESS_REPORT_LANG].",
)
@click.option(
    "--format",
    "formats",
    envvar="CASHLESS_REPORT_FORMAT",
    default=",".join(FORMATS),
    show_default=True,
    help="Comma-separated: html (index.html), png (one per section), pdf (report.pdf), "
    "json (report.json) [env CASHLESS_REPORT_FORMAT].",
)
@click.option(
    "--deadline",
    envvar="CASHLESS_GOAL_DEADLINE",
    help="The goals' deadline, YYYY-MM-DD [env CASHLESS_GOAL_DEADLINE; default 2025-12-31, "
    "the programme's end].",
)
@click.option(
    "--out",
    envvar="CASHLESS_REPORT_OUT",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory to write the report into (created if missing) [env CASHLESS_REPORT_OUT].",
)
@friendly_errors
def report_command(
    prometheus_url: str,
    alertmanager_url: str,
    range_text: str,
    at: str | None,
    lang: str,
    formats: str,
    deadline: str | None,
    out: Path,
) -> None:
    """Write the adoption picture from Prometheus and Alertmanager: a self-contained page
    (index.html), one PNG per section, a printable PDF and every figure with its query
    (report.json)."""
    click.echo(f"reading {prometheus_url} and {alertmanager_url}", err=True)
    written = make_report(
        prometheus_url,
        alertmanager_url,
        out,
        range_text=range_text,
        at=at,
        lang=lang,
        formats=formats,
        deadline=deadline,
        progress=True,
    )
    for path in written:
        click.echo(str(path))
    page = out / "index.html"
    if page.exists():
        click.echo(f"open {page.resolve().as_uri()}", err=True)
