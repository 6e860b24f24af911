"""`cashless simulate`: feed a synthetic Hanoi into Kafka, or into a JSON Lines file with its truth.

Two speeds. Compressed history (the default) generates `--days` days ending at `--end` as fast
as it can; live mode (`--rate 200/s`) stamps events with the present, paced by a token bucket,
until `--duration` has passed or Ctrl-C. The simulation itself is `producers.simulate`; this
module reads the options, wires the run to its output, shows progress and prints the summary.

With `--out FILE.jsonl` the events go to the file (one JSON object per line, both kinds mixed,
in emission order, bad records as their raw bytes) and the ground truth of contract 2 beside it
(`FILE.truth.json`), together with the scaled district table the coverage ratios divide by
(`FILE.districts.csv`). Without `--out` they go to Kafka, grouped by record key into batch
records; bad records are sent raw to `payments.events`, as a broken producer would.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cashless.anonymise import AnonymiserSettings, pseudonym_key
from cashless.durations import parse_duration
from cashless.errors import ConfigError
from cashless.schema import DEFAULT_CLOCK_SKEW_SECONDS
from cashless.settings import KafkaSettings, TaxonomySettings, settings_from
from cli.common import friendly_errors, kafka_options
from producers.simulate.model import SimulationConfig, Simulator
from producers.simulate.outputs import FileOutput, KafkaOutput, Output, Tally, beside, summary
from producers.simulate.pacing import (
    live_start,
    parse_end,
    parse_rate,
    run_history,
    run_live,
)
from producers.simulate.population import districts_csv
from producers.simulate.truth import ground_truth, truth_json

__all__ = ["simulate"]


class _StopSignal:
    """Ctrl-C or SIGTERM asks the run to stop after the current chunk, so that what was written,
    the summary and the truth agree; a second signal stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        click.echo("stopping after the current batch (signal again to abort)", err=True)

    def __enter__(self) -> _StopSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


# -- the command -----------------------------------------------------------------------------------


@click.command("simulate")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Days of compressed history, ending at --end. With --rate: how far along the "
    "adoption curves the live run starts.",
)
@click.option(
    "--events-per-day",
    type=click.IntRange(min=0),
    default=2000,
    show_default=True,
    help="Payment events per simulated day (compressed history).",
)
@click.option(
    "--end",
    metavar="DATETIME",
    help="End of the history, ISO 8601 (no offset = Hanoi time) [default: now, to the minute].",
)
@click.option(
    "--rate",
    metavar="RATE",
    help="Live mode: payment events per second, paced (200/s, 12000/m); event time = now.",
)
@click.option(
    "--duration",
    metavar="DURATION",
    help="Live mode: stop after this long (90s, 10m, 2h) [default: until Ctrl-C].",
)
@click.option(
    "--population-scale",
    type=click.FloatRange(min=0.0, min_open=True, max=1.0),
    default=0.001,
    show_default=True,
    help="Simulated residents per real resident; coverage ratios are relative to the scaled "
    "population (see --districts-out).",
)
@click.option(
    "--stall",
    "stalls",
    metavar="SEGMENT",
    multiple=True,
    help="This segment's non-cash share stays flat below the goal (repeatable).",
)
@click.option(
    "--silent",
    "silents",
    metavar="SOURCE",
    multiple=True,
    help="This source stops sending halfway through (history, or --duration in live mode; "
    "after 10 minutes without one). Repeatable.",
)
@click.option(
    "--bad-records",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    metavar="RATE",
    help="Fraction of payments followed by a bad record (unknown segment or district, missing "
    "field, bad amount, bad JSON or UTF-8, future timestamp).",
)
@click.option(
    "--duplicates",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    metavar="RATE",
    help="Fraction of payments followed by a re-send of a recent payment.",
)
@click.option(
    "--late",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    metavar="RATE",
    help="Fraction of payments sent late: 3/4 out of order by minutes to hours, 1/4 older "
    "than the 30-day horizon.",
)
@click.option(
    "--out",
    metavar="FILE",
    help="Write JSON Lines here instead of sending to Kafka ('-' for stdout); also writes "
    "FILE.truth.json and FILE.districts.csv beside it.",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the ground truth [default with --out FILE: FILE.truth.json].",
)
@click.option("--no-truth", is_flag=True, help="Do not compute or write the ground truth.")
@click.option(
    "--districts-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the scaled district table (for CASHLESS_DISTRICTS_FILE of the workers) "
    "[default with --out FILE: FILE.districts.csv].",
)
@click.option(
    "--min-cell",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    envvar="CASHLESS_MIN_CELL",
    help="Smallest exported cell, for the ground truth (env CASHLESS_MIN_CELL).",
)
@kafka_options
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    help="Events per Kafka record [env CASHLESS_PRODUCER_MAX_EVENTS_PER_RECORD; default 500].",
)
@click.option(
    "--districts-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="District table [env CASHLESS_DISTRICTS_FILE; default the packaged Hanoi list].",
)
@click.option(
    "--segments-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Segment table [env CASHLESS_SEGMENTS_FILE; default the packaged Hanoi list].",
)
@friendly_errors
def simulate(**options: Any) -> None:
    """Generate a synthetic Hanoi's payment and account events, calibrated to its 2023 figures.

    Byte-identical output for the same seed, options, --end and CASHLESS_PSEUDONYM_KEY (without
    a key an ephemeral one is made, and the pseudonyms differ from run to run).
    """
    _run(**options)


def _run(**o: Any) -> None:
    out = o["out"]
    if out not in (None, "-") and not Path(out).resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: no directory {Path(out).resolve().parent}")
    started = time.monotonic()
    wall = time.time()
    live = o["rate"] is not None
    rate = parse_rate(o["rate"]) if live else 0.0
    duration = parse_duration(o["duration"]) if o["duration"] is not None else None
    if duration is not None and not live:
        raise ConfigError("--duration needs --rate (live mode)")
    silent_after = None
    if live:
        end, silent_after = live_start(wall, duration)
    else:
        end = parse_end(o["end"], wall)
    taxonomy = settings_from(
        TaxonomySettings, districts_file=o["districts_file"], segments_file=o["segments_file"]
    ).load()
    key = pseudonym_key(
        AnonymiserSettings(),
        ephemeral=True,
        announce=lambda notice: click.echo(f"note: {notice}", err=True),
    )
    config = SimulationConfig(
        end=end,
        seed=o["seed"],
        days=o["days"],
        events_per_day=o["events_per_day"],
        population_scale=o["population_scale"],
        stall=frozenset(o["stalls"]),
        silent=frozenset(o["silents"]),
        silent_after=silent_after,
        bad_records=o["bad_records"],
        duplicates=o["duplicates"],
        late=o["late"],
    )
    simulator = Simulator(taxonomy, config, key)

    out = o["out"]
    to_file = out is not None and out != "-"
    truth_path: Path | None = o["truth_path"]
    if truth_path is None and to_file:
        truth_path = beside(Path(out), ".truth.json")
    if o["no_truth"]:
        truth_path = None
    districts_path: Path | None = o["districts_out"]
    if districts_path is None and to_file:
        districts_path = beside(Path(out), ".districts.csv")
    if districts_path is not None:
        districts_path.write_text(districts_csv(simulator.population), encoding="utf-8")

    tally = Tally(keep=truth_path is not None)
    console = Console(stderr=True)
    with (
        _StopSignal() as stop,
        _output(o, out, end, wall) as output,
        _progress(console, None if live else config.days + 1) as advance,
    ):
        if live:
            run_live(simulator, output, tally, rate, duration, advance, stop=stop)
        else:
            run_history(simulator, output, tally, advance, stop=stop)
    elapsed = time.monotonic() - started

    if truth_path is not None and tally.kept is not None:
        now = time.time() if live else simulator.end
        truth = ground_truth(tally.kept, simulator.population, now=now, min_cell=o["min_cell"])
        truth_path.write_bytes(truth_json(truth))
    lines = summary(tally, simulator, elapsed, out, truth_path, districts_path)
    click.echo("\n".join(lines), err=True)


@contextlib.contextmanager
def _output(o: dict[str, Any], out: str | None, end: datetime, wall: float) -> Iterator[Output]:
    if out == "-":
        yield FileOutput(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    if out is not None:
        with open(out, "wb") as stream:
            yield FileOutput(stream)
        return
    from producers.kafka_sink import KafkaEventSink, ProducerSettings

    kafka = settings_from(
        KafkaSettings, bootstrap_servers=o["bootstrap_servers"], topic_prefix=o["topic_prefix"]
    )
    producer = settings_from(ProducerSettings, max_events_per_record=o["batch_size"])
    if end.timestamp() > wall + DEFAULT_CLOCK_SKEW_SECONDS:
        click.echo(
            "warning: --end is in the future; workers will reject later events as future_timestamp",
            err=True,
        )
    with KafkaEventSink(kafka, settings=producer) as sink:
        yield KafkaOutput(sink, producer.max_events_per_record)


@contextlib.contextmanager
def _progress(console: Console, days: int | None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (days in history, events in live mode); off when not a TTY."""
    progress = Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn() if days is not None else TextColumn(""),
        TextColumn("{task.fields[events]:,} events"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("simulate", total=days, events=0)
        count = 0

        def advance(steps: int, events: int) -> None:
            nonlocal count
            count += events
            progress.update(task, advance=steps, events=count)

        yield advance
