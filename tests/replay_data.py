"""Raw source exports for replay tests and the throughput benchmark, personal data included.

Records look like what a utility or wallet provider exports before anonymisation: valid events
carrying a customer's name, phone, citizen ID and card number beside the contract fields.
`python -m tests.replay_data OUT.jsonl N` writes N such records (90 % payments, 10 % account
events) for measuring `cashless replay`.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cashless.taxonomy import METHODS, load_taxonomy

__all__ = [
    "FAMILY_NAMES",
    "GIVEN_NAMES",
    "MIDDLE_NAMES",
    "account_record",
    "card_number",
    "citizen_id",
    "full_name",
    "payment_record",
    "phone_number",
    "raw_records",
]

FAMILY_NAMES = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quang", "Thu", "Xuân")
GIVEN_NAMES = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hà",
    "Hạnh",
    "Hùng",
    "Lan",
    "Linh",
    "Mai",
    "Nam",
    "Phương",
    "Quân",
    "Thảo",
    "Trang",
    "Tuấn",
    "Vy",
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def full_name(seed: int) -> str:
    """A Vietnamese-style full name."""
    rng = random.Random(seed)
    return f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES)} {rng.choice(GIVEN_NAMES)}"


def phone_number(seed: int) -> str:
    """A Vietnamese mobile number, `0` + a mobile prefix + 8 digits."""
    rng = random.Random(seed)
    return f"0{rng.choice('35789')}{rng.randrange(10**8):08d}"


def citizen_id(seed: int) -> str:
    """A 12-digit citizen ID (CCCD): province code 001–096, then 9 digits."""
    rng = random.Random(seed)
    return f"{rng.randrange(1, 97):03d}{rng.randrange(10**9):09d}"


def card_number(seed: int) -> str:
    """A 16-digit card number with a valid Luhn check digit (NAPAS 9704 or Visa 4 prefix)."""
    rng = random.Random(seed)
    prefix = rng.choice(["9704", "4"])
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
    total = 0
    for position, char in enumerate(reversed(body)):
        d = int(char)
        if position % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def payment_record(i: int, rng: random.Random) -> dict[str, Any]:
    """A raw payment export row: a valid event plus the payer's personal data."""
    taxonomy = _taxonomy()
    channel, segment = rng.choice(sorted(taxonomy.segments))
    phone = phone_number(i)
    return {
        "schema": 1,
        "event_id": f"p-{i}",
        "occurred_at": (START + timedelta(seconds=i)).isoformat(),
        "source": "hawaco" if channel == "utility" else "dong-xuan-board",
        "channel": channel,
        "segment": segment,
        "district": rng.choice(sorted(taxonomy.districts)),
        "method": rng.choice(METHODS),
        "amount_vnd": rng.randrange(1_000, 5_000_000),
        "payer": phone,
        "customer_name": full_name(i),
        "phone": phone,
        "card_number": card_number(i),
        "note": f"KH {full_name(i)} - CCCD {citizen_id(i)}",
    }


def account_record(i: int, rng: random.Random) -> dict[str, Any]:
    """A raw wallet-provider export row: an account event plus the holder's personal data."""
    taxonomy = _taxonomy()
    return {
        "schema": 1,
        "event_id": f"a-{i}",
        "occurred_at": (START + timedelta(seconds=i)).isoformat(),
        "source": "momo",
        "type": rng.choice(["opened", "opened", "closed"]),
        "holder": f"+84 {phone_number(i)[1:]}",
        "district": rng.choice(sorted(taxonomy.districts)),
        "full_name": full_name(i),
        "cccd": citizen_id(i),
    }


def raw_records(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """N raw records, 90 % payments and 10 % account events, deterministic for a seed."""
    rng = random.Random(seed)
    for i in range(n):
        yield account_record(i, rng) if i % 10 == 9 else payment_record(i, rng)


_cache: list[Any] = []


def _taxonomy() -> Any:
    if not _cache:
        _cache.append(load_taxonomy())
    return _cache[0]


def main(argv: list[str]) -> None:
    """`python -m tests.replay_data OUT.jsonl N`: write N raw records as JSON Lines."""
    out, count = Path(argv[0]), int(argv[1])
    with out.open("w", encoding="utf-8") as f:
        for record in raw_records(count):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])


# A water utility's export as it writes it, and the import profile that reads it.
HAWACO_PROFILE = """
[file]
format = "csv"
delimiter = ";"

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
payer = "Mã khách hàng"

[parse]
timestamp_format = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"]
timezone = "Asia/Ho_Chi_Minh"
thousands = "."
decimal = ","

[values.method]
"Tiền mặt" = "cash"
"Chuyển khoản" = "bank_transfer"
"Quét mã QR" = "qr"
"""

HAWACO_HEADER = (
    "Mã giao dịch;Thời gian thanh toán;Số tiền (VNĐ);Hình thức;Quận/Huyện;Mã khách hàng;Họ tên"
)


def sheet_profile(sheet: str) -> str:
    """The same profile for an Excel export: `sheet`, a title row above the header."""
    return HAWACO_PROFILE.replace(
        'format = "csv"\ndelimiter = ";"', f'sheet = "{sheet}"\nheader_row = 2'
    )
