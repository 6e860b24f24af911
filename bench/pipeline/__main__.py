"""The command line of `make bench`: the run, then its results file and its report.

.venv/bin/python -m bench.pipeline [--quick] [--only ceiling,naive,peer,ours,latency,...]

`peer` in `--only` stands for every Quix Streams configuration (`peer-hopping`, `peer-tumbling`,
`peer-count`). Results files of version 1 had one configuration, the hopping one, as `peer`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import pipeline as package
from bench.harness.paths import ROOT
from bench.harness.processes import interrupt_on_sigterm
from bench.harness.progress import say
from bench.pipeline.context import Bench
from bench.pipeline.machine import git_state, machine, peer_version
from bench.pipeline.plan import CONTENDERS, FULL, PARTS, PEERS, QUICK
from bench.pipeline.report import markdown
from bench.pipeline.run import run
from bench.pipeline.targets import targets

RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs" / "BENCHMARKS.md"
VERSION = 2  # 2: three Quix Streams configurations (`PEERS`) where 1 had `peer`, the hopping one
_FORMERLY = {"peer-hopping": "peer"}  # a contender's name in results files of version 1


def compare(previous: Path, results: dict[str, Any]) -> None:
    """Print the change of each median against the previous results file."""
    if not previous.exists():
        return
    old = json.loads(previous.read_text())
    say(f"against {previous.name} (commit {old.get('git', {}).get('commit', '?')[:12]}):")
    earlier = old.get("throughput") or {}
    for name in CONTENDERS:
        before = (earlier.get(name) or earlier.get(_FORMERLY.get(name, "")) or {}).get(
            "events_per_s"
        )
        after = ((results.get("throughput") or {}).get(name) or {}).get("events_per_s")
        if before and after:
            say(f"  {name}: {after['median'] / before['median']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=package.__doc__)
    parser.add_argument("--quick", action="store_true", help="small dataset, one repetition")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (peer: every peer-*)",
    )
    parser.add_argument(
        "--peer-python",
        type=Path,
        default=ROOT / ".venv" / "bench-peer" / "bin" / "python",
        help="a Python with quixstreams and this project installed",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if "peer" in only:
        only = (only - {"peer"}) | set(PEERS)
    if only - set(PARTS):
        parser.error(f"unknown parts: {sorted(only - set(PARTS))}")
    plan = QUICK if args.quick else FULL
    command = "make bench" + (" BENCH_QUICK=1" if args.quick else "")
    if only != set(PARTS):
        command = f".venv/bin/python -m bench.pipeline {' '.join(argv or sys.argv[1:])}"
    work = Path(tempfile.mkdtemp(prefix="cashless-bench-"))
    bench = Bench(plan, work, args.peer_python, only)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    interrupt_on_sigterm()
    try:
        run(bench)
    except KeyboardInterrupt:
        say("interrupted: stopping everything")
        return 130
    finally:
        bench.close()
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results: dict[str, Any] = {
        "version": VERSION,
        "command": command,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "machine": {**machine(), "quixstreams": peer_version(args.peer_python)},
        "plan": asdict(plan),
        **bench.results,
        "errors": bench.errors,
    }
    results["targets"] = targets(results)
    # Only a whole run is the repository's record; quick and partial runs are for development,
    # and their figures stay out of it (.cashless/).
    complete = not args.quick and only == set(PARTS)
    development = ROOT / ".cashless" / "bench" / ("quick.json" if args.quick else "partial.json")
    out = RESULTS / "latest.json" if complete else development
    out.parent.mkdir(parents=True, exist_ok=True)
    results["results_file"] = str(out.relative_to(ROOT))
    compare(out, results)
    out.write_text(json.dumps(results, indent=2) + "\n")
    report = markdown(results)
    if complete:
        DOCS.parent.mkdir(exist_ok=True)
        DOCS.write_text(report)
        say(f"wrote {out.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    else:
        say(f"wrote {out.relative_to(ROOT)}")
    print(report, flush=True)
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
