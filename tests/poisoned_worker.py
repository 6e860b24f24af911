"""`python -m tests.poisoned_worker EVENT_ID [cashless args…]`: the `cashless` command, with a
fault injected into the payment ledger for one event id: applying that event always raises."""

from __future__ import annotations

import sys

from cli.main import main
from tests.ledger_faults import inject

if __name__ == "__main__":
    inject({sys.argv.pop(1)})
    main()
