"""Coverage-guided fuzzing of the shared event decoder with atheris (libFuzzer), not in `make test`.

    .venv/bin/python -m fuzz.fuzz_decoder -runs=200000 [libFuzzer flags] [CORPUS_DIR ...]

Each input is decoded as a `payments.events` record, a `payments.accounts` record and replay's
mixed input, and must satisfy the same properties as `tests/unit/test_parser_fuzz.py` checks on
every input: no exception, reasons from the finite set, accepted events valid under contract 1
and unchanged by their own encoding. With no corpus directory, a temporary one is seeded with
valid events. libFuzzer prints the number of runs when it stops (`Done N runs in S second(s)`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

# Coverage feedback from the project's code only: msgspec is C, the test helpers not the target.
with atheris.instrument_imports(include=["cashless"]):
    from tests.unit.test_parser_fuzz import GOOD, KINDS, check_sound, decode


SEEDS = [
    GOOD,
    b"[" + GOOD + b", " + GOOD.replace(b"evt-1", b"evt-2") + b"]",
    b'{"schema": 1, "event_id": "a-1", "occurred_at": "2026-11-20T10:00:00Z", "source": "momo", '
    b'"type": "opened", "holder": "' + b"ab" * 32 + b'", "district": "cau-giay"}',
]


def test_one_input(data: bytes) -> None:
    """libFuzzer's entry point: decode `data` every way and check the result."""
    for kind in KINDS:
        check_sound(data, kind, decode(data, kind, "atheris"))


def main() -> None:
    """Run libFuzzer with the given flags, seeding a temporary corpus when none is given."""
    argv = list(sys.argv)
    with tempfile.TemporaryDirectory(prefix="cashless-fuzz-") as corpus:
        if not any(Path(arg).is_dir() for arg in argv[1:] if not arg.startswith("-")):
            for i, seed in enumerate(SEEDS):
                (Path(corpus) / f"seed-{i}").write_bytes(seed)
            argv.append(corpus)
        atheris.Setup(argv, test_one_input)
        atheris.Fuzz()


if __name__ == "__main__":
    main()
