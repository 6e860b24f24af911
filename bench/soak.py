"""`make soak`: one worker under a steady live load for 30 minutes, killed and restarted halfway.

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 500]

Starts the real stack (`ops.stack.Stack`) on free ports in a temporary directory, with its
Prometheus scraping the worker every 5 s. `cashless simulate --rate R/s --duration D` sends live
events (event time = now, with 2% duplicates, 2% late or out of order, 0.5% bad records) into
fresh topics and writes the ground truth of everything it sent when it ends. One `cashless
worker` consumes them; halfway through it is killed with SIGKILL and started again with the
same --app-id, --state-dir and --web-port (so the same local store). Every 10 s a sample:
the worker's RSS (VmRSS) and open file descriptors (/proc/PID/fd), its CPU time, the consumer
lag of its group on the two input topics (end offset − committed offset, summed over
partitions, in records), the records in those topics, and the events /metrics has counted.

The checks, each a line of the summary (the exit status is 1 when one fails):

- `rss_flat`, `fds_flat`, per worker life, over the samples taken while the simulator sends:
  the median of the last third against the median of the middle third (the first third is the
  start-up and catch-up); RSS may grow by less than 10% and less than 50 MB, the descriptors
  other than RocksDB's table files by 5 at most;
- `sst_bounded`, per worker life: RocksDB's open table files never exceed 3 per database (its
  sorted run, a flushed memtable waiting to be merged into it, the merge's output); a new
  store gets its first files as each database first flushes, which can take the whole run;
- `lag_bounded`: after a 60 s warm-up, the lag stays under 60 s of input (the records per
  second of the run times 60), except right after the restart, where it must be back under
  that bound within 120 s of the kill;
- `truth`: within 300 s of the simulator's end, /metrics equals its ground truth, every series;
- `lag_drained`: then the group's committed offsets reach the end of both topics;
- `prometheus`: Prometheus's latest `sum(cashless_payments_total)` equals the truth's;
- `simulator`, `worker`: the simulator exited with 0, and the worker never exited by itself.

Samples go to .cashless/soak/<time>.csv, the summary to .cashless/soak/<time>.json (and
latest.json), the worker and simulator logs to .cashless/soak/<time>-logs/. Every process, and
the stack, is stopped at the end, also on error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from bench.pipeline import (
    KEY,
    ROOT,
    Proc,
    Processes,
    Series,
    differences,
    free_port,
    samples,
    say,
    scrape,
    stack_settings,
    wait_until,
)
from cashless.eventtime import least_squares_slope
from cashless.topics import Topics, ensure_topics
from ops.stack import Stack

OUT = ROOT / ".cashless" / "soak"
SAMPLE_SECONDS = 10.0
WARMUP_SECONDS = 60.0
LAG_BOUND_SECONDS = 60.0  # the lag bound, in seconds of input at the run's record rate
RECOVERY_SECONDS = 120.0  # after the kill, the lag is back under the bound within this
TRUTH_TIMEOUT = 300.0
RSS_GROWTH_RATIO = 0.10
RSS_GROWTH_MB = 50.0
FD_GROWTH = 5  # descriptors other than RocksDB's table files
SST_PER_DATABASE = 3
# What the simulator mixes into the live stream, so that dedup, the late rule and the DLQ work
# through the restart too.
FAULTS = ("--duplicates", "0.02", "--late", "0.02", "--bad-records", "0.005")
# /metrics series that count every payment event a worker took in, whatever became of it.
COUNTED = (
    "cashless_payments_total",
    "cashless_events_duplicate_total",
    "cashless_events_late_total",
    "cashless_events_rejected_total",
)


@dataclass
class Sample:
    """One reading, `t` seconds after the simulator started."""

    t: float
    life: int
    sending: bool
    pid: int
    rss_mb: float | None
    fds: int | None
    sst_files: int | None  # of `fds`: RocksDB table files
    cpu_s: float | None
    lag_records: int | None
    records_in: int | None
    events_counted: float | None


@dataclass
class Check:
    """One pass/fail line of the summary."""

    name: str
    ok: bool
    detail: str


class GroupLag:
    """Consumer lag of one group on some topics, from the broker (kafka-python admin client)."""

    def __init__(self, bootstrap: str, group: str, topics: dict[str, int]) -> None:
        self.group = group
        self.partitions = [TopicPartition(t, p) for t, n in topics.items() for p in range(n)]
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)

    def read(self) -> tuple[int, int] | None:
        """(lag, end offsets) summed over the partitions; a partition without a committed offset
        counts from 0. None when the broker did not answer."""
        try:
            ends = self.admin.list_partition_offsets(
                {tp: OffsetSpec.LATEST for tp in self.partitions}
            )
            committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        except KafkaError:
            return None
        lag = end_total = 0
        for tp in self.partitions:
            end = ends[tp].offset
            done = committed[tp].offset if tp in committed else 0
            end_total += end
            lag += max(0, end - max(done, 0))
        return lag, end_total

    def close(self) -> None:
        self.admin.close()


def proc_status(pid: int) -> tuple[float | None, int | None, int | None]:
    """VmRSS in MB, the number of open file descriptors of `pid`, and how many of them are
    RocksDB table files (`*.sst`); None when it is gone."""
    try:
        rss = next(
            int(line.split()[1]) / 1024
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, StopIteration):
        return None, None, None
    targets = []
    for fd in fds:
        with contextlib.suppress(OSError):  # closed since the listing
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return rss, len(fds), sum(target.endswith(".sst") for target in targets)


def counted(text: str | None) -> float | None:
    if text is None:
        return None
    return sum(v for (name, _), v in samples(text).items() if name in COUNTED)


def load_truth(path: Path) -> dict[Series, float]:
    return {
        (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
        for item in json.loads(path.read_text())
    }


# -- the checks -----------------------------------------------------------------------------------


def thirds(values: Sequence[float]) -> tuple[float, float] | None:
    """Medians of the middle and the last third of `values` (None with fewer than 3)."""
    n = len(values)
    if n < 3:
        return None
    return statistics.median(values[n // 3 : 2 * n // 3]), statistics.median(values[2 * n // 3 :])


def flat_checks(rows: list[Sample], databases: int) -> list[Check]:
    checks = []
    for life in sorted({s.life for s in rows}):
        mine = [s for s in rows if s.life == life and s.sending]
        rss = thirds([s.rss_mb for s in mine if s.rss_mb is not None])
        fds = thirds(
            [
                float(s.fds - s.sst_files)
                for s in mine
                if s.fds is not None and s.sst_files is not None
            ]
        )
        if rss is None or fds is None:
            checks.append(Check(f"rss_flat life {life}", False, f"{len(mine)} samples, too few"))
            continue
        growth = rss[1] - rss[0]
        checks.append(
            Check(
                f"rss_flat life {life}",
                growth < RSS_GROWTH_MB and growth < RSS_GROWTH_RATIO * rss[0],
                f"median RSS {rss[0]:.1f} MB (middle third) -> {rss[1]:.1f} MB (last third), "
                f"{growth:+.1f} MB; bound < {RSS_GROWTH_MB:.0f} MB and "
                f"< {RSS_GROWTH_RATIO:.0%}",
            )
        )
        checks.append(
            Check(
                f"fds_flat life {life}",
                fds[1] - fds[0] <= FD_GROWTH,
                f"median open FDs other than RocksDB table files {fds[0]:.0f} (middle third) "
                f"-> {fds[1]:.0f} (last third); bound +{FD_GROWTH}",
            )
        )
        tables = [s.sst_files for s in rows if s.life == life and s.sst_files is not None]
        most = max(tables, default=0)
        checks.append(
            Check(
                f"sst_bounded life {life}",
                bool(tables) and most <= SST_PER_DATABASE * databases,
                f"RocksDB table files open: {min(tables, default=0)} to {most} "
                f"(last {tables[-1] if tables else None}); bound {SST_PER_DATABASE} per "
                f"database x {databases} databases = {SST_PER_DATABASE * databases}",
            )
        )
    return checks


def lag_check(rows: list[Sample], killed_at: float, bound: float) -> Check:
    """The lag after the warm-up, outside the `RECOVERY_SECONDS` that follow the kill."""
    judged = [
        s
        for s in rows
        if s.t >= WARMUP_SECONDS and not killed_at <= s.t < killed_at + RECOVERY_SECONDS
    ]
    lags = [(s.lag_records, s.t) for s in judged if s.lag_records is not None]
    worst, at = max(lags, default=(0, 0.0))
    restart = [
        s.lag_records
        for s in rows
        if killed_at <= s.t < killed_at + RECOVERY_SECONDS and s.lag_records is not None
    ]
    unanswered = len(judged) - len(lags)
    after = any(s.t >= killed_at + RECOVERY_SECONDS for s in rows)
    return Check(
        "lag_bounded",
        bool(lags) and after and worst <= bound and unanswered == 0,
        f"max {worst} records (t={at:.0f} s) after the {WARMUP_SECONDS:.0f} s warm-up and "
        f"outside the {RECOVERY_SECONDS:.0f} s after the kill, bound {bound:.0f} "
        f"({LAG_BOUND_SECONDS:.0f} s of input); max {max(restart, default=0)} within those "
        f"{RECOVERY_SECONDS:.0f} s; {unanswered} samples without an answer from Kafka"
        + ("" if after else "; no sample after the recovery window"),
    )


def caught_up(rows: list[Sample], killed_at: float) -> float | None:
    """Seconds from the kill to the first sample after the restart's peak lag with a lag no
    larger than the worst of the first life after its warm-up."""
    before = [
        s.lag_records
        for s in rows
        if WARMUP_SECONDS <= s.t < killed_at and s.lag_records is not None
    ]
    after = [s for s in rows if s.t >= killed_at and s.lag_records is not None]
    if not before or not after:
        return None
    peak = max(range(len(after)), key=lambda i: after[i].lag_records or 0)
    back = next((s for s in after[peak:] if (s.lag_records or 0) <= max(before)), None)
    return None if back is None else round(back.t - killed_at, 1)


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Soak:
    """One soak run: the stack, the simulator, the worker's lives, the samples."""

    minutes: float
    rate: float
    work: Path
    rows: list[Sample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = Processes(self.work / "logs")
        self.port = free_port()
        settings = stack_settings(
            self.work, worker_targets=f"127.0.0.1:{self.port}", scrape_interval="5s"
        )
        self.stack = Stack(settings)
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"
        self.prometheus = f"http://127.0.0.1:{settings.prometheus_port}"
        tag = uuid.uuid4().hex[:6]
        self.topics = Topics(f"soak{tag}.")
        self.app_id = f"soak-{tag}"
        self.districts = self.work / "run.districts.csv"
        self.truth_file = self.work / "run.truth.json"
        self.http = httpx.Client()
        self.lag: GroupLag | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
        env.update(
            CASHLESS_BOOTSTRAP_SERVERS=self.bootstrap,
            CASHLESS_PSEUDONYM_KEY=KEY,
            CASHLESS_DISTRICTS_FILE=str(self.districts),
            PYTHONUNBUFFERED="1",
        )
        return env

    def start_simulator(self, seconds: float) -> Proc:
        command: list[str | Path] = [
            sys.executable,
            *("-m", "cli", "simulate", "--seed", "5", "--days", "30"),
            *("--rate", f"{self.rate:g}/s", "--duration", f"{seconds:g}s", *FAULTS),
            *("--topic-prefix", self.topics.prefix, "--truth", self.truth_file),
            *("--districts-out", self.districts),
        ]
        env = self.env()
        del env["CASHLESS_DISTRICTS_FILE"]  # it writes the scaled table the worker reads
        return self.procs.start("simulate", command, env)

    def start_worker(self, life: int) -> Proc:
        """A worker on the same app id, port and state directory in every life."""
        command: list[str | Path] = [
            sys.executable,
            *("-m", "cli", "worker", "--topic-prefix", self.topics.prefix),
            *("--app-id", self.app_id, "--web-port", str(self.port)),
            *("--state-dir", self.work / "worker"),
        ]
        return self.procs.start(f"worker-{life}", command, self.env())

    def sample(self, t: float, life: int, sending: bool, worker: Proc) -> Sample:
        pid = worker.popen.pid
        rss, fds, sst_files = proc_status(pid)
        try:
            cpu: float | None = worker.cpu_seconds()
        except OSError:
            cpu = None
        lag = self.lag.read() if self.lag is not None else None
        row = Sample(
            t=round(t, 1),
            life=life,
            sending=sending,
            pid=pid,
            rss_mb=None if rss is None else round(rss, 1),
            fds=fds,
            sst_files=sst_files,
            cpu_s=cpu,
            lag_records=None if lag is None else lag[0],
            records_in=None if lag is None else lag[1],
            events_counted=counted(scrape(self.http, self.port)),
        )
        self.rows.append(row)
        say(
            f"t={row.t:6.0f} s life {life} RSS {row.rss_mb} MB, FDs {row.fds} "
            f"({row.sst_files} SST), lag {row.lag_records} of {row.records_in} records, "
            f"counted {row.events_counted}"
        )
        return row

    def run(self) -> None:
        seconds = self.minutes * 60
        say(f"starting the stack under {self.work}")
        self.stack.up(progress=say)
        ensure_topics(self.bootstrap, self.topics)
        partitions = self.topics.partitions()
        self.lag = GroupLag(
            self.bootstrap,
            self.app_id,
            {t: partitions[t] for t in (self.topics.events, self.topics.accounts)},
        )
        say(f"live load: {self.rate:g} events/s for {seconds:g} s into {self.topics.prefix}*")
        simulator = self.start_simulator(seconds)
        started = time.monotonic()
        wait_until(
            lambda: self.districts.exists() or simulator.popen.poll() is not None,
            60,
            "the simulator's district table",
        )
        life = 1
        worker = self.start_worker(life)
        killed_at = seconds / 2
        next_sample = 0.0
        while simulator.popen.poll() is None:
            t = time.monotonic() - started
            if life == 1 and t >= killed_at:
                self.sample(t, life, True, worker)
                say(f"kill -9 of the worker (pid {worker.popen.pid}) at t={t:.0f} s")
                worker.popen.send_signal(signal.SIGKILL)
                worker.popen.wait()
                killed_at = t
                life = 2
                worker = self.start_worker(life)
                say(f"worker started again (pid {worker.popen.pid})")
            if worker.popen.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.popen.returncode}")
            if t >= next_sample:
                self.sample(t, life, t < seconds, worker)
                next_sample += SAMPLE_SECONDS
            time.sleep(0.2)
        sent_seconds = time.monotonic() - started
        said = [line for line in simulator.tail().splitlines() if line.startswith("simulated")]
        self.checks.append(
            Check(
                "simulator",
                simulator.popen.returncode == 0,
                f"exit status {simulator.popen.returncode}; {said[-1] if said else 'no summary'}",
            )
        )
        if simulator.popen.returncode != 0:
            raise RuntimeError(f"the simulator exited with {simulator.popen.returncode}")
        truth = load_truth(self.truth_file)
        self.finish(truth, worker, life, started, min(sent_seconds, seconds), killed_at)

    def finish(
        self,
        truth: dict[Series, float],
        worker: Proc,
        life: int,
        started: float,
        seconds: float,
        killed_at: float,
    ) -> None:
        say(f"the simulator is done; waiting for /metrics to equal its {len(truth):,}-series truth")
        found: int | None = None
        next_sample = time.monotonic() - started

        def equal() -> bool:
            nonlocal found, next_sample
            t = time.monotonic() - started
            if t >= next_sample:
                self.sample(t, life, False, worker)
                next_sample = t + SAMPLE_SECONDS
            if worker.popen.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.popen.returncode}")
            text = scrape(self.http, self.port)
            found = None if text is None else differences(samples(text), truth)
            return found == 0

        waited = time.monotonic()
        with contextlib.suppress(TimeoutError):
            wait_until(equal, TRUTH_TIMEOUT, "the ground truth", every=2.0)
        took = time.monotonic() - waited
        self.checks.append(
            Check(
                "truth",
                found == 0,
                f"{found} of {len(truth):,} series differ after {took:.0f} s"
                if found
                else f"all {len(truth):,} series equal {took:.0f} s after the simulator's end",
            )
        )
        lag: tuple[int, int] | None = None

        def drained() -> bool:
            nonlocal lag
            lag = self.lag.read() if self.lag is not None else None
            return lag is not None and lag[0] == 0

        with contextlib.suppress(TimeoutError):
            wait_until(drained, 60, "the committed offsets", every=1.0)
        self.checks.append(
            Check(
                "lag_drained",
                lag is not None and lag[0] == 0,
                f"lag {lag[0] if lag else '—'} of {lag[1] if lag else '—'} records at the end",
            )
        )
        self.checks.append(self.prometheus_check(truth))
        records = max((s.records_in or 0) for s in self.rows)
        per_second = records / seconds
        self.checks.append(lag_check(self.rows, killed_at, LAG_BOUND_SECONDS * per_second))
        partitions = self.topics.partitions()  # one database per table and partition
        databases = partitions[self.topics.events] + partitions[self.topics.accounts]
        self.checks += flat_checks(self.rows, databases)
        payments = sum(v for (name, _), v in truth.items() if name == "cashless_payments_total")
        self.figures.update(
            seconds=round(seconds, 1),
            killed_at=round(killed_at, 1),
            caught_up_seconds=caught_up(self.rows, killed_at),
            records=records,
            records_per_second=round(per_second, 1),
            applied_payments=payments,
            truth_series=len(truth),
        )

    def prometheus_check(self, truth: dict[Series, float]) -> Check:
        wanted = sum(v for (name, _), v in truth.items() if name == "cashless_payments_total")
        seen: float | None = None

        def matches() -> bool:
            nonlocal seen
            try:
                answer = self.http.get(
                    f"{self.prometheus}/api/v1/query",
                    params={"query": "sum(cashless_payments_total)"},
                    timeout=10,
                ).json()
                result = answer["data"]["result"]
                seen = float(result[0]["value"][1]) if result else None
            except (httpx.HTTPError, KeyError, ValueError):
                seen = None
            return seen == wanted

        with contextlib.suppress(TimeoutError):
            wait_until(matches, 60, "Prometheus", every=2.0)
        return Check(
            "prometheus",
            seen == wanted,
            f"sum(cashless_payments_total) in Prometheus {seen}, in the truth {wanted:.0f}",
        )

    def close(self) -> None:
        self.procs.stop_all()
        self.http.close()
        if self.lag is not None:
            self.lag.close()
        try:
            self.stack.down(purge=True, progress=say)
        except Exception as exc:  # the stack's own processes must not outlive a failed run
            say(f"stopping the stack failed: {exc}")


# -- the report -----------------------------------------------------------------------------------


def write(soak: Soak, stamp: str, command: str, error: str | None) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    table = OUT / f"{stamp}.csv"
    with table.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f for f in Sample.__dataclass_fields__])
        writer.writeheader()
        writer.writerows(asdict(s) for s in soak.rows)
    logs = OUT / f"{stamp}-logs"
    shutil.copytree(soak.work / "logs", logs, dirs_exist_ok=True)
    summary = {
        "command": command,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": soak.minutes,
        "rate": soak.rate,
        "ok": error is None and bool(soak.checks) and all(c.ok for c in soak.checks),
        "error": error,
        "checks": [asdict(c) for c in soak.checks],
        "figures": {**soak.figures, **life_figures(soak.rows)},
        "samples_file": str(table.relative_to(ROOT)),
        "logs": str(logs.relative_to(ROOT)),
    }
    text = json.dumps(summary, indent=2) + "\n"
    (OUT / f"{stamp}.json").write_text(text)
    (OUT / "latest.json").write_text(text)
    return table


def life_figures(rows: list[Sample]) -> dict[str, Any]:
    """Per worker life, over its last two thirds while the simulator sends: RSS and FDs at the
    start and end, their least-squares slope per minute, RSS bytes per event counted, CPU share
    of one core; and the largest lag of the whole life."""
    figures: dict[str, Any] = {}
    for life in sorted({s.life for s in rows}):
        whole = [s for s in rows if s.life == life]
        sending = [s for s in whole if s.sending and s.rss_mb is not None and s.fds is not None]
        mine = sending[len(sending) // 3 :]
        lags = [s.lag_records for s in whole if s.lag_records is not None]
        figure: dict[str, Any] = {
            "samples": len(whole),
            "max_lag_records": max(lags, default=None),
        }
        if len(mine) >= 2:
            first, last = mine[0], mine[-1]
            rss_slope = least_squares_slope((s.t, s.rss_mb or 0.0) for s in mine)
            fd_slope = least_squares_slope((s.t, float(s.fds or 0)) for s in mine)
            events = [(s.events_counted, s.rss_mb or 0.0) for s in mine if s.events_counted]
            per_event = least_squares_slope(events) if len(events) >= 2 else None
            cpu = (last.cpu_s or 0.0) - (first.cpu_s or 0.0)
            figure.update(
                from_t=first.t,
                to_t=last.t,
                rss_mb=[first.rss_mb, last.rss_mb],
                rss_mb_per_min=None if rss_slope is None else round(rss_slope * 60, 2),
                rss_bytes_per_event=None if per_event is None else round(per_event * 2**20),
                fds=[first.fds, last.fds],
                sst_files=[first.sst_files, last.sst_files],
                fds_per_min=None if fd_slope is None else round(fd_slope * 60, 2),
                cpu_share=round(cpu / (last.t - first.t), 3),
            )
        figures[f"life_{life}"] = figure
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("SOAK_MINUTES", "30")),
        help="how long the simulator sends (env SOAK_MINUTES; default 30)",
    )
    parser.add_argument("--rate", type=float, default=500, help="payment events per second")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.minutes < 2:
        parser.error("--minutes must be at least 2 (each worker life needs its samples)")
    command = f"make soak SOAK_MINUTES={args.minutes:g}"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="cashless-soak-"))
    soak = Soak(args.minutes, args.rate, work)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    error: str | None = None
    try:
        soak.run()
    except KeyboardInterrupt:
        error = "interrupted"
        say("interrupted: stopping everything")
    except Exception as exc:  # recorded in the summary; the exit status says it failed
        error = f"{type(exc).__name__}: {exc}"
        say(f"FAILED {error}")
    finally:
        soak.close()
        table = write(soak, stamp, command, error)
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nsoak: {args.minutes:g} min at {args.rate:g} events/s, kill -9 and restart halfway")
    for check in soak.checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if error:
        print(f"  FAIL run: {error}")
    summary = json.loads((OUT / "latest.json").read_text())
    print(f"  figures: {json.dumps(summary['figures'])}")
    print(f"  samples in {table.relative_to(ROOT)}, summary in {OUT.relative_to(ROOT)}/latest.json")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
