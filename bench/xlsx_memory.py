"""Peak memory of `cashless replay --profile … --dry-run` on an Excel export of N rows.

    python -m bench.xlsx_memory --rows 1000000

Writes the sheet (openpyxl's write-only mode: a title row, the header, N payment rows with
date and number cells), then replays it through a profile in a subprocess and prints the
child's peak RSS, the rows read and the time taken. Replay reads the sheet in openpyxl's
read-only mode, so the peak should not grow with N beyond the shared-strings table.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl

PROFILE = """
[file]
header_row = 2
[defaults]
schema = 1
source = "hawaco"
channel = "utility"
segment = "water"
[columns]
event_id = "Mã giao dịch"
occurred_at = "Thời gian thanh toán"
amount_vnd = "Số tiền (VNĐ)"
method = "Hình thức"
district = "Quận/Huyện"
[values.method]
"Tiền mặt" = "cash"
"Chuyển khoản" = "bank_transfer"
"""
_DISTRICTS = ("Ba Đình", "Hoàn Kiếm", "Cầu Giấy", "Đống Đa", "Hà Đông", "Sơn Tây")


def write_sheet(path: Path, rows: int) -> None:
    """A utility's export of `rows` payments, as a spreadsheet program would write it."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Giao dịch")
    sheet.append(["Báo cáo thu tiền nước"])
    sheet.append(
        ["Mã giao dịch", "Thời gian thanh toán", "Số tiền (VNĐ)", "Hình thức", "Quận/Huyện"]
    )
    start = datetime(2026, 11, 1, 7, 0)
    for n in range(rows):
        sheet.append(
            [
                f"HD-{n:08d}",
                start + timedelta(seconds=2 * n % (28 * 86400)),
                50_000 + (n % 200) * 1_000,
                "Tiền mặt" if n % 3 else "Chuyển khoản",
                _DISTRICTS[n % len(_DISTRICTS)],
            ]
        )
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        sheet, profile = Path(directory) / "export.xlsx", Path(directory) / "hawaco.toml"
        profile.write_text(PROFILE, "utf-8")
        began = time.monotonic()
        write_sheet(sheet, args.rows)
        print(
            f"wrote {args.rows:,} rows ({sheet.stat().st_size / 1e6:.1f} MB) in "
            f"{time.monotonic() - began:.0f} s",
            flush=True,
        )
        began = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "replay",
                str(sheet),
                "--profile",
                str(profile),
                "--dry-run",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - began
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(done.stdout.strip().splitlines()[0] if done.stdout else done.stderr)
        print(f"replay --dry-run: exit {done.returncode}, {took:.0f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
