"""Import profiles (contract 4) on files that look like real exports, and on broken ones.

Rows are read through `producers.replay.tables` and decoded by contract 1's decoder, so each
test sees what replay would send or reject; `cashless profile check` and `replay --dry-run`
run through the command line, without Kafka.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from cashless.anonymise import Anonymiser
from cashless.errors import ConfigError
from cashless.schema import EventDecoder, PaymentEvent
from cashless.taxonomy import load_taxonomy
from cli.main import cli
from producers.replay.profile import Profile, load_profile
from producers.replay.tables import read_profiled
from tests.replay_data import HAWACO_HEADER, HAWACO_PROFILE, sheet_profile

TAXONOMY = load_taxonomy()
KEY = "unit-test-pseudonym-key-0123456789abcdef"
ANONYMISER = Anonymiser(KEY.encode())


def _profile(tmp_path: Path, text: str = HAWACO_PROFILE) -> Profile:
    path = tmp_path / "hawaco.toml"
    path.write_text(text, "utf-8")
    return load_profile(path)


def _export(tmp_path: Path, rows: list[str], *, header: str = HAWACO_HEADER) -> Path:
    """A utility's CSV: UTF-8 with a byte-order mark, CRLF line ends."""
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *rows, ""]).encode("utf-8"))
    return path


def _read(path: Path, profile: Profile, fmt: str = "csv") -> list[Any]:
    """(line, event or reason, the line) for every row replay would process."""
    decoder = EventDecoder(TAXONOMY)
    out = []
    with path.open("rb") as stream:
        for _, line in read_profiled(path, stream, profile, fmt, TAXONOMY):
            if line is None:
                continue
            if line.rejection is not None:
                out.append((line.number, line.rejection.reason, line))
                continue
            result = decoder.decode_parsed(ANONYMISER(line.record))  # as replay does
            if result.rejections:
                out.append((line.number, result.rejections[0].reason, line))
            else:
                out.append((line.number, result.events[0], line))
    return out


def test_a_real_looking_export_reads_into_contract_1_events(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "Chuyển khoản")
    rows = [
        "HD-1;03/12/2026 08:15;1.250.000;Tiền mặt;Quận Ba Đình;KH001;Nguyễn Văn A;",
        f"HD-2;03/12/2026 08:16:30;1.250.000,00;{nfd};hoàn kiếm;KH002;Trần B;",
        "",
        " HD-3 ; 03/12/2026 09:00 ; 20.000 ; QUÉT MÃ QR ; Thị xã Sơn Tây ;KH003;C",
        ";;;;;;",
    ]
    read = _read(_export(tmp_path, rows), _profile(tmp_path))
    assert [n for n, _, _ in read] == [2, 3, 5], "blank rows skipped, not counted"
    events = [e for _, e, _ in read]
    assert all(isinstance(e, PaymentEvent) for e in events), read
    first, second, third = events
    assert (first.event_id, first.method, first.district) == ("HD-1", "cash", "ba-dinh")
    assert first.amount_vnd == second.amount_vnd == 1_250_000
    assert first.occurred_at == datetime.fromisoformat("2026-12-03T08:15:00+07:00")
    assert second.occurred_at == datetime.fromisoformat("2026-12-03T08:16:30+07:00")
    assert (second.method, second.district) == ("bank_transfer", "hoan-kiem")
    assert (third.event_id, third.method, third.district) == ("HD-3", "qr", "son-tay")
    assert (first.source, first.channel, first.segment) == ("hawaco", "utility", "water")
    assert all("Họ tên" not in line.record for _, _, line in read), "unknown columns stay"


@pytest.mark.parametrize(
    ("cells", "reason", "column"),
    [
        (
            "HD-9;31/02/2026 08:15;50.000;Tiền mặt;Cầu Giấy;K",
            "invalid_field:occurred_at",
            "Thời gian thanh toán",
        ),
        (
            "HD-9;2026-12-03 08:15;50.000;Tiền mặt;Cầu Giấy;K",
            "invalid_field:occurred_at",
            "Thời gian thanh toán",
        ),
        (
            "HD-9;03/12/2026 08:15;1.250.000,50;Tiền mặt;Cầu Giấy;K",
            "invalid_field:amount_vnd",
            "Số tiền (VNĐ)",
        ),
        (
            "HD-9;03/12/2026 08:15;-50.000;Tiền mặt;Cầu Giấy;K",
            "invalid_field:amount_vnd",
            "Số tiền (VNĐ)",
        ),
        ("HD-9;03/12/2026 08:15;50.000;Thẻ tín dụng;Cầu Giấy;K", "unknown_method", None),
        ("HD-9;03/12/2099 08:15;50.000;Tiền mặt;Cầu Giấy;K", "future_timestamp", None),
        ("HD-9;03/12/2026 08:15;50.000;Tiền mặt;Quận Hội An;K", "unknown_district", None),
    ],
)
def test_a_broken_row_is_rejected_with_the_column_at_fault(
    tmp_path: Path, cells: str, reason: str, column: str | None
) -> None:
    [(number, got, line)] = _read(_export(tmp_path, [cells]), _profile(tmp_path))
    assert (number, got) == (2, reason)
    if column is not None:
        assert line.fault.column == column
        assert line.fault.value == cells.split(";")[1 if "occurred" in reason else 2]


def test_an_xlsx_with_a_title_row_and_date_cells(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Giao dịch"
    sheet.append(["Báo cáo thu tiền nước tháng 12/2026"])
    sheet.append(HAWACO_HEADER.split(";"))
    sheet.append([1001, datetime(2026, 12, 3, 8, 15), 1250000, "Tiền mặt", "Ba Đình", "KH1"])
    sheet.append([None] * 7)
    sheet.append(["HD-2", datetime(2026, 12, 3, 9, 0), 250000.0, "Quét mã QR", "Đống Đa", "KH2"])
    sheet.append(["HD-3", datetime(2026, 12, 3, 9, 0), 2500.5, "Quét mã QR", "Đống Đa", "KH3"])
    path = tmp_path / "export.xlsx"
    book.save(path)
    text = sheet_profile("Giao dịch")
    read = _read(path, _profile(tmp_path, text), "xlsx")
    assert [(n, getattr(e, "event_id", e)) for n, e, _ in read] == [
        (3, "1001"),
        (5, "HD-2"),
        (6, "invalid_field:amount_vnd"),
    ]
    first = read[0][1]
    assert first.occurred_at == datetime.fromisoformat("2026-12-03T08:15:00+07:00")
    assert (first.amount_vnd, first.district, read[1][1].amount_vnd) == (1250000, "ba-dinh", 250000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[file]\nfromat = 'csv'\n", "unknown key file.fromat"),
        ("[colums]\nevent_id = 'x'\n", r"unknown table \[colums\]"),
        ("[file]\nheader_row = '2'\n", "file.header_row must be int"),
        ("[file]\ndelimiter = ';;'\n", "file.delimiter must be one character"),
        ("[file]\nencoding = 'utf-99'\n", "not a known encoding"),
        ("[parse]\ntimezone = 'Mars/Base'\n", "not a time zone"),
        ("[parse]\ntimestamp_format = 'dd/mm/yyyy'\n", "not a strptime format"),
        ("[values.method]\n'Tiền mặt' = true\n", "must be a string or an integer"),
        ("[file\n", "not a TOML file"),
    ],
)
def test_a_profile_mistake_is_named_before_anything_is_read(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _profile(tmp_path, text)


def test_a_column_the_file_lacks_is_an_error_naming_the_header(tmp_path: Path) -> None:
    profile = _profile(tmp_path, HAWACO_PROFILE.replace('"Hình thức"', '"Phương thức"'))
    with pytest.raises(ConfigError, match=r"method = 'Phương thức'.*its header: 'Mã giao dịch'"):
        profile.check_header(HAWACO_HEADER.split(";"))


def test_profile_check_and_a_dry_run_from_the_command_line(tmp_path: Path) -> None:
    profile = tmp_path / "hawaco.toml"
    profile.write_text(HAWACO_PROFILE, "utf-8")
    rows = [
        "HD-1;03/12/2026 08:15;1.250.000;Tiền mặt;Ba Đình;KH001",
        "HD-2;31/02/2026 08:15;50.000;Tiền mặt;Ba Đình;KH002",
        "HD-3;03/12/2026 08:15;50.000;Thẻ;Ba Đình;KH003",
    ]
    export = _export(tmp_path, rows)
    runner = CliRunner()
    env = {"CASHLESS_PSEUDONYM_KEY": KEY}
    checked = runner.invoke(cli, ["profile", "check", str(profile), str(export)], env=env)
    assert checked.exit_code == 0, checked.output
    assert "method       <- column 'Hình thức'" in checked.output

    dry = ["replay", str(export), "--profile", str(profile), "--dry-run"]
    done = runner.invoke(cli, dry, env=env)
    assert done.exit_code == 1, "2 of 3 rejected is more than --max-rejected 0.5"
    assert "line 3: invalid_field:occurred_at — column 'Thời gian thanh toán' = '31/02/2026" in (
        done.output
    )
    assert "line 4: unknown_method — column 'Hình thức' = 'Thẻ'" in done.output
    assert "KH00" not in done.output, "no payer value is shown"
    assert runner.invoke(cli, [*dry, "--max-rejected", "0.7"], env=env).exit_code == 0

    bad = tmp_path / "bad.toml"
    bad.write_text(HAWACO_PROFILE.replace('"Hình thức"', '"Phương thức"'), "utf-8")
    refused = runner.invoke(cli, ["replay", str(export), "--profile", str(bad)], env=env)
    assert refused.exit_code == 2
    assert "Phương thức" in refused.output
    assert "Traceback" not in refused.output
