"""Where a simulated run's emissions go, and what it sums up.

`FileOutput` writes JSON Lines (one emission a line, both kinds mixed, in emission order, bad
records as their raw bytes); `KafkaOutput` groups a chunk's events by record key into batch
records (`producers.batching`) and sends bad records raw to `payments.events`, as a broken
producer would. `Tally` counts what was emitted, for the summary and the ground truth.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from cashless.errors import CashlessError
from cashless.schema import AccountEvent, PaymentEvent, encode
from producers.batching import KeyedBuffer
from producers.simulate.faults import BadRecord, Emission

if TYPE_CHECKING:
    # Only for the type: a run to a file does not load kafka-python.
    from producers.kafka_sink import KafkaEventSink
    from producers.simulate.model import Simulator

__all__ = ["FileOutput", "KafkaOutput", "Output", "Tally", "beside", "summary"]


class Output(Protocol):
    """Takes each chunk of emissions of a run, in order."""

    def write(self, emissions: list[Emission]) -> None:
        """Write (or send) one chunk."""


class FileOutput:
    """One line per emission: the event's canonical JSON, or a bad record's raw bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, emissions: list[Emission]) -> None:
        """Append the chunk's lines to the stream."""
        lines = [e.raw if isinstance(e, BadRecord) else encode(e) for e in emissions]
        if lines:
            self._stream.write(b"\n".join(lines) + b"\n")


class KafkaOutput:
    """Groups a chunk's events by record key (order kept per key) into batch records."""

    def __init__(self, sink: KafkaEventSink, batch: int) -> None:
        self._sink = sink
        self._batch = batch

    def write(self, emissions: list[Emission]) -> None:
        """Send the chunk; raise `CashlessError` once Kafka failed to take any record."""
        sink = self._sink
        payments: KeyedBuffer[PaymentEvent] = KeyedBuffer(self._batch)
        accounts: KeyedBuffer[AccountEvent] = KeyedBuffer(self._batch)
        for item in emissions:
            if isinstance(item, PaymentEvent):
                if (full := payments.add(item.key, item)) is not None:
                    sink.send_payments(item.key, full)
            elif isinstance(item, AccountEvent):
                if (owned := accounts.add(item.holder, item)) is not None:
                    sink.send_accounts(item.holder, owned)
            else:
                # Earlier events of the same key go first, so the order within a key is kept.
                pending = payments.pop(item.key)
                if pending:
                    sink.send_payments(item.key, pending)
                sink.send_raw(sink.topics.events, item.key, item.raw)
        for key, group in payments.drain():
            sink.send_payments(key, group)
        for holder, held in accounts.drain():
            sink.send_accounts(holder, held)
        if sink.stats.failed:
            # Stop at the first records Kafka did not take: a live run would otherwise go on
            # generating (and losing) events until it ends, and only then report the loss.
            raise CashlessError(
                f"{sink.stats.failed} Kafka records failed to deliver; stopping the simulation"
            )


class Tally:
    """What was emitted, for the summary, and (when a truth is wanted) the emissions themselves."""

    def __init__(self, keep: bool) -> None:
        self.channels: Counter[str] = Counter()
        self.accounts: Counter[str] = Counter()
        self.bad = 0
        self.kept: list[Emission] | None = [] if keep else None

    def add(self, emissions: list[Emission]) -> None:
        """Count a chunk (and keep it, when asked to)."""
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
        """Every emission counted: payments, account events and bad records."""
        return sum(self.channels.values()) + sum(self.accounts.values()) + self.bad


def beside(path: Path, suffix: str) -> Path:
    """`path` with its extension replaced by `suffix` (`run.jsonl` -> `run.truth.json`)."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    return path.with_name(stem + suffix)


def summary(
    tally: Tally,
    simulator: Simulator,
    elapsed: float,
    out: str | None,
    truth_path: Path | None,
    districts_path: Path | None,
) -> list[str]:
    """The end-of-run report as lines: what went where, how fast, and what was injected."""
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
    return lines
