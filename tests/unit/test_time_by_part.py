"""The profile summary of `make bench`: each sample goes to its innermost frame's part."""

from __future__ import annotations

from pathlib import Path

from bench.time_by_part import where_time_goes

ROOT = "<module> (cashless/cli.py:212);Worker.run (streams/worker.py:494)"


def test_samples_go_to_the_innermost_part_and_the_rest_to_other(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        f"{ROOT};PaymentLedger.process (streams/ledger.py:380);"
        "EventDecoder.check (cashless/schema.py:70) 6\n"
        f"{ROOT};PaymentLedger.process (streams/ledger.py:380);"
        "LocalStore.get_many (streams/local_store.py:60) 3\n"
        f"{ROOT};PaymentLedger.process (streams/ledger.py:380);helper (json/encoder.py:10) 1\n"
        "main (somewhere/else.py:1) 2\n"
        "not a stack line\n"
    )
    found = where_time_goes(raw)
    assert found["samples"] == 12
    shares = {part["part"]: part["share"] for part in found["parts"]}
    assert shares == {
        "decoding and validation in Python (records the kernel defers)": 6 / 12,
        "local store (RocksDB reads and writes)": 3 / 12,
        # a standard-library leaf counts for the project frame that called it
        "payment ledger: the kernel (decoding, dedup, late rule, windows) and its Python face": 1
        / 12,
        "other": 2 / 12,
    }
    ledger = next(p for p in found["parts"] if p["part"].startswith("payment ledger"))
    assert ledger["top"] == [
        {"function": "PaymentLedger.process (streams/ledger.py)", "share": 1 / 12}
    ]
