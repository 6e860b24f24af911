"""`cashless replay FILE`: a source's JSON Lines or CSV export into Kafka, with a summary."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from cashless.anonymise import Anonymiser, AnonymiserSettings
from cashless.schema import EventDecoder
from cashless.settings import KafkaSettings, TaxonomySettings, settings_from
from cli.common import friendly_errors, kafka_options
from producers.replay.readers import FileFormat, detect_format, parse_column_map, read_lines
from producers.replay.replayer import DryRunSink, Replayer, ReplaySink, ReplaySummary

__all__ = ["replay_command"]


@click.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "jsonl", "csv"]),
    default="auto",
    show_default=True,
    help="Input format; auto = CSV for a .csv file, else JSON Lines.",
)
@click.option(
    "--column-map",
    metavar="OLD=NEW,...",
    help="Rename CSV header columns to event fields, e.g. 'ma_gd=event_id,so_tien=amount_vnd'.",
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
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr [default: when stderr is a terminal].",
)
@friendly_errors
def replay_command(
    file: Path,
    file_format: str,
    column_map: str | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    events_per_record: int,
    chunk_lines: int,
    dry_run: bool,
    progress: bool | None,
) -> None:
    """Replay a JSON Lines or CSV export of payment and account events into Kafka.

    Every record is anonymised at the edge (pseudonym key from CASHLESS_PSEUDONYM_KEY), then
    validated against event schema v1: a record with a `holder` field is an account event.
    Rejected lines go to the dead-letter topic with their reason and line number and are
    counted in the summary; the exit status is non-zero only when Kafka did not take the data.
    """
    _replay(
        file,
        detect_format(file, file_format),
        parse_column_map(column_map),
        settings_from(
            KafkaSettings, bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix
        ),
        events_per_record=events_per_record,
        chunk_lines=chunk_lines,
        dry_run=dry_run,
        show_progress=sys.stderr.isatty() if progress is None else progress,
    )


def _replay(
    file: Path,
    fmt: FileFormat,
    column_map: dict[str, str],
    kafka: KafkaSettings,
    *,
    events_per_record: int,
    chunk_lines: int,
    dry_run: bool,
    show_progress: bool,
) -> None:
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
    decoder = EventDecoder(settings_from(TaxonomySettings).load())
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
        lines = read_lines(stream, fmt, column_map=column_map)
        replayer = Replayer(
            sink,
            anonymiser,
            decoder,
            events_per_record=events_per_record,
            chunk_lines=chunk_lines,
        )
        replayer.replay(lines, summary, progress=lambda done: bar.update(task, completed=done))
