"""The soak's record: the samples as CSV, the summary as JSON with each life's figures."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness.paths import ROOT
from bench.soak.run import Soak
from bench.soak.sampling import Sample
from cashless.eventtime import least_squares_slope

__all__ = ["OUT", "life_figures", "write"]

OUT = ROOT / ".cashless" / "soak"


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
