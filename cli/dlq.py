"""`cashless dlq summary|export`: what was rejected, and the rejected events to fix and resend."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from cashless.durations import parse_duration
from cashless.errors import ConfigError
from cashless.settings import KafkaSettings, settings_from
from cli.common import friendly_errors, kafka_options
from producers.dlq import DlqFilter, DlqSummary, described, read_dead_letters, write_export

__all__ = ["dlq_group"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _since(text: str | None) -> datetime | None:
    """An RFC 3339 time with its offset, or a duration back from now (`24h`, `7d`)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
        except ConfigError:
            raise ConfigError(
                f"--since {text!r} is neither a time with its offset "
                "(2026-12-01T00:00:00+07:00) nor a duration back from now (24h, 7d)"
            ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"--since {text!r} has no UTC offset (e.g. 2026-12-01T00:00:00+07:00)")
    return moment


def _filters(reasons: tuple[str, ...], source: str | None, since: str | None) -> DlqFilter:
    return DlqFilter(frozenset(reasons), source, _since(since))


_filter_options = [
    click.option(
        "--reason",
        "reasons",
        multiple=True,
        metavar="REASON",
        help="Only this reason (repeat for several): unknown_method, invalid_field:amount_vnd, …",
    ),
    click.option("--source", help="Only the dead letters of this source, e.g. hawaco."),
    click.option("--since", help="Only those rejected since: 2026-12-01T00:00:00+07:00, or 24h."),
]


def filter_options(func: _F) -> _F:
    """`--reason`, `--source` and `--since`, shared by both commands."""
    for option in reversed(_filter_options):
        func = option(func)
    return func


@click.group("dlq")
def dlq_group() -> None:
    """The dead-letter topic (payments.dlq): what was rejected, and exporting it to resend."""


@dlq_group.command("summary")
@filter_options
@kafka_options
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@friendly_errors
def summary_command(
    reasons: tuple[str, ...],
    source: str | None,
    since: str | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    as_json: bool,
) -> None:
    """Count the dead letters by reason, source and day (Hanoi), from the start of the topic."""
    wanted = _filters(reasons, source, since)
    kafka = settings_from(
        KafkaSettings, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix
    )
    summary = DlqSummary()
    for dl in read_dead_letters(kafka, wanted):
        summary.add(dl)
    if as_json:
        click.echo(json.dumps(summary.as_json(), ensure_ascii=False))
    else:
        click.echo("\n".join(summary.report()))


@dlq_group.command("export")
@filter_options
@kafka_options
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The JSON Lines file to write: one rejected event per line, scrubbed, ready to fix "
    "and send again with `cashless replay`.",
)
@friendly_errors
def export_command(
    reasons: tuple[str, ...],
    source: str | None,
    since: str | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    out: Path,
) -> None:
    """Export the rejected events that were kept, one per line, to fix and replay.

    Deduplication makes a re-send safe: an event applied after all counts once. Input that
    could not be parsed is kept only as its length and a keyed hash: it is listed, not exported.
    """
    wanted = _filters(reasons, source, since)
    kafka = settings_from(
        KafkaSettings, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix
    )
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: no directory {out.parent}")
    tally = write_export(out, read_dead_letters(kafka, wanted))
    click.echo(f"exported {tally.exported:,} events to {out}")
    if tally.unparseable:
        click.echo(
            f"not exported: {len(tally.unparseable):,} unparseable inputs, kept as length and hash "
            "only (fix them at their source):"
        )
        for dl in tally.unparseable[:50]:
            click.echo(described(dl))
        if len(tally.unparseable) > 50:
            click.echo(f"  … and {len(tally.unparseable) - 50:,} more")
