"""Durations written as people write them: `90s`, `15m`, `12h`, `30d`, `8w` (and `90`, seconds,
where a bare number is allowed). One rule for every command that takes a duration."""

from __future__ import annotations

import re

from cashless.errors import ConfigError

__all__ = ["parse_duration"]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])?\s*")
_SECONDS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}


def parse_duration(text: str, *, unit_required: bool = False) -> float:
    """Seconds from a positive number and a unit (s, m, h, d, w); without a unit, seconds,
    unless `unit_required`."""
    match = _DURATION.fullmatch(text)
    if match is None or float(match.group(1)) <= 0 or (unit_required and match.group(2) is None):
        raise ConfigError(f"{text!r} is not a duration: write it like 90s, 15m, 12h, 30d or 8w")
    return float(match.group(1)) * _SECONDS[match.group(2)]
