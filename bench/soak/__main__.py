"""The command line of `make soak`: the run, its summary, the checks printed, the exit status.

.venv/bin/python -m bench.soak [--minutes 30] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench import soak as package
from bench.harness.paths import ROOT
from bench.harness.processes import interrupt_on_sigterm
from bench.harness.progress import say
from bench.soak.run import Soak
from bench.soak.summary import OUT, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=(package.__doc__ or "").splitlines()[0]
    )
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

    interrupt_on_sigterm()
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
