"""`cashless replay FILE`: a source's export (JSON Lines, CSV, Excel; read through an import
profile or as contract 1 writes it) into Kafka, with a summary and an exit status that says
whether too much of it was rejected."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from cashless.anonymise import Anonymiser, AnonymiserSettings
from cashless.schema import EventDecoder, Rejection, field_of
from cashless.settings import KafkaSettings, TaxonomySettings, settings_from
from cashless.taxonomy import Taxonomy
from cli.common import friendly_errors, kafka_options
from producers.replay.profile import Profile, load_profile
from producers.replay.readers import SourceLine, check_column_map, parse_column_map, read_lines
from producers.replay.replayer import DryRunSink, Replayer, ReplaySink, ReplaySummary
from producers.replay.tables import file_format as file_format_of
from producers.replay.tables import read_header, read_profiled

__all__ = ["replay_command"]


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "jsonl", "csv", "xlsx"]),
    default="auto",
    show_default=True,
    help="Input format; auto = the profile's file.format, else .csv CSV, .xlsx Excel, else "
    "JSON Lines.",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An import profile (TOML): how to read this source's export (columns, defaults, "
    "timestamp and amount formats, value maps). See `cashless profile check`.",
)
@click.option(
    "--column-map",
    metavar="OLD=NEW,...",
    help="Rename CSV header columns to event fields, e.g. 'ma_gd=event_id,so_tien=amount_vnd' "
    "(without --profile; a profile's [columns] does the same).",
)
@kafka_options
@click.option(
    "--events-per-record",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Most events batched into one Kafka record (same key).",
)
@click.option(
    "--chunk-lines",
    type=click.IntRange(1, 10_000_000),
    default=20_000,
    show_default=True,
    help="Send the events buffered per key at least once every this many lines.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Parse, anonymise and validate only; send nothing (an ephemeral key is used if none).",
)
@click.option(
    "--max-rejected",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Exit with status 1 when more than this share of the events was rejected (they are "
    "in the dead-letter topic all the same): a wrong profile is not a silent success.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr [default: when stderr is a terminal].",
)
@friendly_errors
def replay_command(
    file: Path,
    file_format: str,
    profile_path: Path | None,
    column_map: str | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    events_per_record: int,
    chunk_lines: int,
    dry_run: bool,
    max_rejected: float,
    progress: bool | None,
) -> None:
    """Replay an export of payment and account events (JSON Lines, CSV, .xlsx) into Kafka.

    Every record is anonymised at the edge (pseudonym key from CASHLESS_PSEUDONYM_KEY), then
    validated against event schema v1: a record with a `holder` field is an account event.
    Rejected lines go to the dead-letter topic with their reason and line number and are
    counted in the summary. Exit status 1 when Kafka did not take the data or more than
    --max-rejected of the events were rejected; 2 for a profile or flag that cannot be used
    (checked before anything is sent).
    """
    if profile_path is not None and column_map:
        raise click.UsageError("--column-map and --profile: use the profile's [columns]")
    profile = load_profile(profile_path) if profile_path is not None else None
    fmt = file_format if profile is None else file_format_of(file, profile, file_format)
    if profile is None and fmt == "auto":
        fmt = file_format_of(file, Profile(), "auto")
    if profile is None and fmt == "xlsx":
        profile = Profile()  # a sheet is read through the profile reader, columns as named
    taxonomy = settings_from(TaxonomySettings).load()
    if profile is not None:
        profile.check_header(read_header(file, profile, fmt))  # before anything is sent
    elif fmt == "csv" and column_map:
        check_column_map(file, parse_column_map(column_map))
    summary = _replay(
        file,
        fmt,
        profile,
        parse_column_map(column_map),
        settings_from(
            KafkaSettings, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix
        ),
        events_per_record=events_per_record,
        chunk_lines=chunk_lines,
        dry_run=dry_run,
        show_progress=sys.stderr.isatty() if progress is None else progress,
        taxonomy=taxonomy,
    )
    if dry_run:
        for line in first_rejected_lines(summary, profile):
            click.echo(line)
    if summary.rejected_share > max_rejected:
        raise click.exceptions.Exit(_too_many_rejected(summary, max_rejected))


def _too_many_rejected(summary: ReplaySummary, max_rejected: float) -> int:
    click.echo(
        f"error: {summary.rejected_share:.0%} of the events were rejected, more than "
        f"--max-rejected {max_rejected:g}: check the profile or the file "
        "(the rejected events are in the dead-letter topic)"
        if not summary.dry_run
        else f"error: {summary.rejected_share:.0%} of the events would be rejected, more than "
        f"--max-rejected {max_rejected:g}",
        err=True,
    )
    return 1


def first_rejected_lines(summary: ReplaySummary, profile: Profile | None) -> list[str]:
    """The first rejected lines: number, reason, and the column and value at fault (a
    personal field's value is not shown)."""
    if not summary.first_rejections:
        return []
    shown = [f"first {len(summary.first_rejections)} rejected:"]
    for number, rejection, line in summary.first_rejections:
        shown.append(f"  line {number}: {rejection.reason}{_at_fault(rejection, line, profile)}")
    return shown


def _at_fault(rejection: Rejection, line: SourceLine, profile: Profile | None) -> str:
    fault = line.fault
    if fault is not None:
        return f" — column {fault.column!r} = {_withheld(fault.field, fault.value)}"
    name = field_of(rejection.reason)
    if name is None or not isinstance(line.record, dict):
        return f" — {rejection.detail}" if rejection.detail else ""
    column = profile.column_of(name) if profile is not None else name
    value = line.record.get(name) if not isinstance(line.record, list) else None
    if value is None:
        return f" — column {column!r} is empty or missing"
    return f" — column {column!r} = {_withheld(name, str(value))}"


def _withheld(name: str, value: str) -> str:
    return "(a personal identifier, not shown)" if name in ("payer", "holder") else repr(value)


def _replay(
    file: Path,
    fmt: str,
    profile: Profile | None,
    column_map: dict[str, str],
    kafka: KafkaSettings,
    *,
    events_per_record: int,
    chunk_lines: int,
    dry_run: bool,
    show_progress: bool,
    taxonomy: Taxonomy,
) -> ReplaySummary:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from producers.kafka_sink import KafkaEventSink, ProducerSettings, terminate_on_sigterm

    # kafka-python 3 warns whenever compressing a large batch holds its I/O loop over 100 ms:
    # expected with big batches on a busy machine, and not actionable by an operator.
    selector = logging.getLogger("kafka.net.selector")
    selector.setLevel(max(logging.ERROR, logging.getLogger().getEffectiveLevel()))
    anonymiser = Anonymiser.from_settings(
        settings_from(AnonymiserSettings),
        ephemeral=dry_run,
        announce=lambda notice: click.echo(f"note: {notice}", err=True),
    )
    decoder = EventDecoder(taxonomy)
    summary = ReplaySummary(file=file.name, dry_run=dry_run)
    with ExitStack() as stack:
        stack.enter_context(terminate_on_sigterm())
        sink: ReplaySink
        if dry_run:
            sink = DryRunSink()
        else:
            producer = settings_from(ProducerSettings, max_events_per_record=events_per_record)
            sink = stack.enter_context(KafkaEventSink(kafka, settings=producer))
        # Printed once the progress bar is gone, before the sink closes (replay flushed it).
        stack.callback(lambda: click.echo("\n".join(summary.report())))
        bar = stack.enter_context(
            Progress(
                TextColumn("[bold]replay[/] {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                disable=not show_progress,
                transient=True,
            )
        )
        task = bar.add_task(file.name, total=file.stat().st_size or None)
        stream = stack.enter_context(file.open("rb"))
        lines = (
            read_lines(stream, "csv" if fmt == "csv" else "jsonl", column_map=column_map)
            if profile is None
            else read_profiled(file, stream, profile, fmt, taxonomy)
        )
        replayer = Replayer(
            sink,
            anonymiser,
            decoder,
            events_per_record=events_per_record,
            chunk_lines=chunk_lines,
        )
        replayer.replay(lines, summary, progress=lambda done: bar.update(task, completed=done))
    return summary
