"""What every option decodes: the payment event of contract 1, its fields and value sets taken
from the project's core (cashless/schema.py, cashless/taxonomy.py), and the benchmark's sizes."""

from __future__ import annotations

from cashless.schema import Channel, Method, PaymentEvent
from cashless.taxonomy import CHANNELS, METHODS

__all__ = [
    "AMOUNT_MAX",
    "CHANNELS",
    "FIELDS",
    "METHODS",
    "N_EVENTS",
    "REPS",
    "SEED",
    "WARMUP",
    "Channel",
    "Method",
]

N_EVENTS = 100_000
REPS = 5
WARMUP = 1  # untimed pass before the timed reps (first pass pays page faults)
SEED = 1

AMOUNT_MAX = 10**12
FIELDS: tuple[str, ...] = PaymentEvent.__struct_fields__  # the contract's order
