"""Write N account-opening events (one per holder) as JSON Lines, for the coverage memory figure.

python bench/accounts_load.py 1000000 /tmp/accounts-1m.jsonl
cashless replay /tmp/accounts-1m.jsonl   # then run a worker and read its RSS
"""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, datetime, timedelta

from cashless.schema import AccountEvent, encode
from cashless.taxonomy import load_taxonomy


def main(count: int, path: str) -> None:
    districts = sorted(load_taxonomy().districts)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with open(path, "wb") as out:
        for i in range(count):
            event = AccountEvent(
                schema=1,
                event_id=f"acc-{i}",
                occurred_at=start + timedelta(seconds=i),
                source=("momo", "zalopay", "vnpay", "vietcombank")[i % 4],
                type="opened",
                holder=hashlib.sha256(f"person-{i}".encode()).hexdigest(),
                district=districts[i % len(districts)],
            )
            out.write(encode(event) + b"\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
