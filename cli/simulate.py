"""`cashless simulate`: feed a synthetic Hanoi into Kafka, or into a JSON Lines file with its truth.

Two speeds. Compressed history (the default) generates `--days` days ending at `--end` as fast
as it can; live mode (`--rate 200/s`) stamps events with the present, paced by a token bucket,
until `--duration` has passed or Ctrl-C. The generation itself is `producers.simulator`; this
module parses options, paces, writes (file or `KafkaEventSink`), reports progress and sums up.

With `--out FILE.jsonl` the events go to the file (one JSON object per line, both kinds mixed,
in emission order, bad records as their raw bytes) and the ground truth of contract 2 beside it
(`FILE.truth.json`), together with the scaled district table the coverage ratios divide by
(`FILE.districts.csv`). Without `--out` they go to Kafka, grouped by record key into batch
records; bad records are sent raw to `payments.events`, as a broken producer would.
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Protocol

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cashless.anonymise import AnonymiserSettings, pseudonym_key
from cashless.errors import CashlessError, ConfigError
from cashless.schema import AccountEvent, PaymentEvent, encode
from cashless.settings import KafkaSettings, TaxonomySettings, settings_from
from cli.common import friendly_errors, kafka_options
from producers.simulator import (
    HANOI,
    BadRecord,
    Emission,
    SimulationConfig,
    Simulator,
    districts_csv,
    ground_truth,
    truth_json,
)

if TYPE_CHECKING:
    from producers.kafka_sink import KafkaEventSink

__all__ = ["TokenBucket", "parse_duration", "parse_rate", "simulate"]

_LIVE_TICK = 0.1  # seconds of events per live batch
_LIVE_SILENT_AFTER = 600.0  # without --duration, a --silent source stops after ten minutes
_CLOCK_SKEW = 300.0


class TokenBucket:
    """Paces a live stream: `rate` tokens a second, at most `burst` held; the clock is injected."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = 0.0
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> int:
        """Take every whole token available now (0 when none)."""
        self._refill()
        whole = int(self._tokens)
        self._tokens -= whole
        return whole

    def wait(self, tokens: float = 1.0) -> float:
        """Seconds until `tokens` tokens (capped at the burst) are available."""
        self._refill()
        return max(0.0, (min(tokens, self.burst) - self._tokens) / self.rate)


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour))?\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}
_SECONDS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_rate(text: str) -> float:
    """Events per second from `200`, `200/s`, `12000/m` or `36000/h`."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"rate {text!r} is not like 200/s, 12000/m or 36000/h")
    return float(match.group(1)) / _PER_SECOND[match.group(2)]


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `10m`, `2h` or `1d`."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"duration {text!r} is not like 90s, 10m, 2h or 1d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _parse_end(text: str | None, now: float) -> datetime:
    if text is None:
        return datetime.fromtimestamp(math.floor(now / 60) * 60, HANOI)
    try:
        end = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--end {text!r} is not an ISO 8601 date-time") from None
    return end.replace(tzinfo=HANOI) if end.tzinfo is None else end


# -- outputs ---------------------------------------------------------------------------------------


class _Output(Protocol):
    def write(self, emissions: list[Emission]) -> None: ...


class _FileOutput:
    """One line per emission: the event's canonical JSON, or a bad record's raw bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, emissions: list[Emission]) -> None:
        lines = [e.raw if isinstance(e, BadRecord) else encode(e) for e in emissions]
        if lines:
            self._stream.write(b"\n".join(lines) + b"\n")


class _KafkaOutput:
    """Groups a chunk's events by record key (order kept per key) into batch records."""

    def __init__(self, sink: KafkaEventSink, batch: int) -> None:
        self._sink = sink
        self._batch = batch

    def write(self, emissions: list[Emission]) -> None:
        sink, batch = self._sink, self._batch
        payments: dict[str, list[PaymentEvent]] = {}
        accounts: dict[str, list[AccountEvent]] = {}
        for item in emissions:
            if isinstance(item, PaymentEvent):
                group = payments.setdefault(item.key, [])
                group.append(item)
                if len(group) >= batch:
                    sink.send_payments(item.key, payments.pop(item.key))
            elif isinstance(item, AccountEvent):
                owned = accounts.setdefault(item.holder, [])
                owned.append(item)
                if len(owned) >= batch:
                    sink.send_accounts(item.holder, accounts.pop(item.holder))
            else:
                # Earlier events of the same key go first, so the order within a key is kept.
                pending = payments.pop(item.key, None)
                if pending:
                    sink.send_payments(item.key, pending)
                sink.send_raw(sink.topics.events, item.key, item.raw)
        for key, group in payments.items():
            sink.send_payments(key, group)
        for holder, owned in accounts.items():
            sink.send_accounts(holder, owned)
        if sink.stats.failed:
            # Stop at the first records Kafka did not take: a live run would otherwise go on
            # generating (and losing) events until it ends, and only then report the loss.
            raise CashlessError(
                f"{sink.stats.failed} Kafka records failed to deliver; stopping the simulation"
            )


class _Tally:
    """What was emitted, for the summary, and (when a truth is wanted) the emissions themselves."""

    def __init__(self, keep: bool) -> None:
        self.channels: Counter[str] = Counter()
        self.accounts: Counter[str] = Counter()
        self.bad = 0
        self.kept: list[Emission] | None = [] if keep else None

    def add(self, emissions: list[Emission]) -> None:
        channels, accounts = self.channels, self.accounts
        for item in emissions:
            if isinstance(item, PaymentEvent):
                channels[item.channel] += 1
            elif isinstance(item, AccountEvent):
                accounts[item.type] += 1
            else:
                self.bad += 1
        if self.kept is not None:
            self.kept.extend(emissions)

    @property
    def total(self) -> int:
        return sum(self.channels.values()) + sum(self.accounts.values()) + self.bad


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
    started = time.monotonic()
    wall = time.time()
    live = o["rate"] is not None
    rate = parse_rate(o["rate"]) if live else 0.0
    duration = parse_duration(o["duration"]) if o["duration"] is not None else None
    if duration is not None and not live:
        raise ConfigError("--duration needs --rate (live mode)")
    end = datetime.fromtimestamp(math.floor(wall), HANOI) if live else _parse_end(o["end"], wall)
    silent_after = None
    if live:
        silent_after = datetime.fromtimestamp(
            end.timestamp() + (duration / 2 if duration is not None else _LIVE_SILENT_AFTER), HANOI
        )
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
        truth_path = _beside(Path(out), ".truth.json")
    if o["no_truth"]:
        truth_path = None
    districts_path: Path | None = o["districts_out"]
    if districts_path is None and to_file:
        districts_path = _beside(Path(out), ".districts.csv")
    if districts_path is not None:
        districts_path.write_text(districts_csv(simulator.population), encoding="utf-8")

    tally = _Tally(keep=truth_path is not None)
    console = Console(stderr=True)
    with (
        _StopSignal() as stop,
        _output(o, out, end, wall) as output,
        _progress(console, None if live else config.days + 1) as advance,
    ):
        if live:
            _live(simulator, output, tally, rate, duration, advance, stop=stop)
        else:
            for chunk in simulator.history():
                output.write(chunk)
                tally.add(chunk)
                advance(1, len(chunk))
                if stop():
                    break
    elapsed = time.monotonic() - started

    if truth_path is not None and tally.kept is not None:
        now = time.time() if live else simulator.end
        truth = ground_truth(tally.kept, simulator.population, now=now, min_cell=o["min_cell"])
        truth_path.write_bytes(truth_json(truth))
    _summary(tally, simulator, elapsed, out, truth_path, districts_path)


def _beside(path: Path, suffix: str) -> Path:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(stem + suffix)


@contextlib.contextmanager
def _output(o: dict[str, Any], out: str | None, end: datetime, wall: float) -> Iterator[_Output]:
    if out == "-":
        yield _FileOutput(sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    if out is not None:
        with open(out, "wb") as stream:
            yield _FileOutput(stream)
        return
    from producers.kafka_sink import KafkaEventSink, ProducerSettings

    kafka = settings_from(
        KafkaSettings, bootstrap_servers=o["bootstrap_servers"], topic_prefix=o["topic_prefix"]
    )
    producer = settings_from(ProducerSettings, max_events_per_record=o["batch_size"])
    if end.timestamp() > wall + _CLOCK_SKEW:
        click.echo(
            "warning: --end is in the future; workers will reject later events as future_timestamp",
            err=True,
        )
    with KafkaEventSink(kafka, settings=producer) as sink:
        yield _KafkaOutput(sink, producer.max_events_per_record)


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


def _live(
    simulator: Simulator,
    output: _Output,
    tally: _Tally,
    rate: float,
    duration: float | None,
    advance: Callable[[int, int], None],
    *,
    stop: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Emit at `rate` payments a second with event time = now, until `duration` has passed."""
    start = clock()
    previous = simulator.end
    chunk = simulator.backfill(previous)
    output.write(chunk)
    tally.add(chunk)
    advance(0, len(chunk))
    bucket = TokenBucket(rate, max(1.0, rate * _LIVE_TICK), clock)
    while (duration is None or clock() - start < duration) and not stop():
        sleep(bucket.wait(rate * _LIVE_TICK))
        count = bucket.take()
        now = max(previous, math.floor(wall()))
        chunk = simulator.interval(previous, now, count, live=True)
        previous = now
        if chunk:
            output.write(chunk)
            tally.add(chunk)
            advance(0, len(chunk))


def _summary(
    tally: _Tally,
    simulator: Simulator,
    elapsed: float,
    out: str | None,
    truth_path: Path | None,
    districts_path: Path | None,
) -> None:
    total = tally.total
    payments = sum(tally.channels.values())
    per_channel = ", ".join(f"{c} {n:,}" for c, n in sorted(tally.channels.items()))
    per_type = ", ".join(f"{t} {n:,}" for t, n in sorted(tally.accounts.items()))
    injected = simulator.injected
    lines = [
        f"simulated {total:,} events in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f}/s)"
        f" to {'Kafka' if out is None else ('stdout' if out == '-' else out)}",
        f"  payments       {payments:,} ({per_channel or 'none'})",
        f"  account events {sum(tally.accounts.values()):,} ({per_type or 'none'})",
        f"  bad records    {tally.bad:,}",
        f"  duplicates     {injected['duplicates']:,}, late or out of order {injected['late']:,}",
    ]
    if truth_path is not None:
        lines.append(f"  ground truth   {truth_path}")
    if districts_path is not None:
        lines.append(
            f"  districts      {districts_path} (population x {simulator.config.population_scale};"
            " coverage ratios assume the workers use it: CASHLESS_DISTRICTS_FILE)"
        )
    elif simulator.config.population_scale != 1.0:
        lines.append(
            "  note: coverage ratios are relative to the scaled population; write its district "
            "table with --districts-out for the workers"
        )
    click.echo("\n".join(lines), err=True)
