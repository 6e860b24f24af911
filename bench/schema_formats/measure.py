"""How the options are compared: timing, round trips with their timestamp changes, and the
rejection matrix."""

from __future__ import annotations

import gc
import re
import time
from collections import Counter
from datetime import timedelta

import orjson

from bench.schema_formats.a_msgspec import ms_decode, ms_dollar_decode, ms_encode
from bench.schema_formats.b_orjson import dc_decode, dc_encode
from bench.schema_formats.c_pydantic import (
    pd_decode,
    pd_encode,
    pd_lax_decode,
    pd_literal_decode,
)
from bench.schema_formats.cases import CASES, VALID
from bench.schema_formats.d_faust import fa_decode, fa_encode, fa_raw_decode

__all__ = [
    "ENCODERS",
    "MATRIX_EXTRA",
    "OPTIONS",
    "fmt",
    "rejection_matrix",
    "roundtrip_stats",
    "time_it",
]

OPTIONS = {  # key: (label, decode, encode)
    "a": ("(a) msgspec Struct", ms_decode, ms_encode),
    "b": ("(b) orjson + dataclass", dc_decode, dc_encode),
    "c": ("(c) pydantic v2", pd_decode, pd_encode),
    "d": ("(d) faust Record + manual", fa_decode, fa_encode),
}
MATRIX_EXTRA = {  # not benchmarked
    "a:$": ms_dollar_decode,
    "c:Lit": pd_literal_decode,
    "c:lax": pd_lax_decode,
    "d:faust": fa_raw_decode,
}
ENCODERS = {
    "a": ms_encode,
    "b": dc_encode,
    "c": pd_encode,
    "d": fa_encode,
    "a:$": ms_encode,
    "c:Lit": pd_encode,
    "c:lax": pd_encode,
    "d:faust": fa_encode,
}


def try_decode(dec, b):
    try:
        return True, dec(b)
    except Exception as e:  # any exception = rejected
        return False, e


def rejection_matrix():
    cols = list(OPTIONS) + list(MATRIX_EXTRA)
    decs = {k: v[1] for k, v in OPTIONS.items()} | MATRIX_EXTRA
    lines = ["| input | expected | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    required_ok = {k: True for k in cols}
    wrong = {k: 0 for k in cols}
    for label, b, expect, required, checkf in CASES:
        cells = []
        for k in cols:
            ok, res = try_decode(decs[k], b)
            cell = "accept" if ok else "reject"
            if ok and checkf is not None and not checkf(ENCODERS[k])(res):
                cell = "accept, WRONG VALUE"
                good = False
            else:
                good = expect is None or ok == expect
            if not good:
                cell = f"**{cell}** ✗"
                wrong[k] += 1
                if required:
                    required_ok[k] = False
            cells.append(cell)
        exp = {True: "accept", False: "reject", None: "either"}[expect]
        lines.append(f"| {label}{' *' if required else ''} | {exp} | " + " | ".join(cells) + " |")
    # immutability row
    cells = []
    good_rec = orjson.dumps(VALID)
    for k in cols:
        ok, rec = try_decode(decs[k], good_rec)
        try:
            rec.amount_vnd = 1
            cells.append("**mutable** ✗")
            wrong[k] += 1
        except Exception:
            cells.append("frozen")
    lines.append("| record immutable? | frozen | " + " | ".join(cells) + " |")
    lines.append("| **wrong verdicts** | | " + " | ".join(str(wrong[k]) for k in cols) + " |")
    return "\n".join(lines), required_ok


def offset_of(ts: str) -> timedelta:
    if ts[-1] in "Zz":
        return timedelta(0)
    sign = -1 if ts[-6] == "-" else 1
    return sign * timedelta(hours=int(ts[-5:-3]), minutes=int(ts[-2:]))


_TS_PARTS = re.compile(r".{19}(\.[0-9]+)?(.*)").fullmatch


def ts_change(src: str, out: str) -> list[str]:
    (fs, os_), (fo, oo) = _TS_PARTS(src).groups(), _TS_PARTS(out).groups()
    kinds = []
    if os_ != oo:
        kinds.append(f"offset '{os_}'->'{oo}'")
    if fs != fo:
        kinds.append(f"fraction {len(fs or '.') - 1}->{len(fo or '.') - 1} digits")
    if out[:19] != src[:19]:
        kinds.append("wall-clock part changed")
    return kinds


def roundtrip_stats(key, dec, enc, blobs, recs):
    eq = off_src = off_rt = text_same = 0
    changes: Counter = Counter()
    for b, x in zip(blobs, recs, strict=False):
        y = dec(enc(x))
        eq += y == x  # NB: aware-datetime == compares instants, not offsets
        src_ts = orjson.loads(b)["occurred_at"]
        off_src += x.occurred_at.utcoffset() == offset_of(src_ts)
        off_rt += y.occurred_at.utcoffset() == x.occurred_at.utcoffset() and y.occurred_at.replace(
            tzinfo=None
        ) == x.occurred_at.replace(tzinfo=None)
        out_ts = orjson.loads(enc(x))["occurred_at"]
        text_same += out_ts == src_ts
        if out_ts != src_ts:
            changes.update(ts_change(src_ts, out_ts))
    return eq, off_src, off_rt, text_same, changes


def time_it(fn, items) -> float:
    """Streaming-style timing: each result is dropped right away (as a consumer
    that decodes, handles and forgets an event would).  Collecting 100k results
    in a list instead made timings bimodal (allocator page faults) and charged
    cyclic-GC passes over the growing heap to GC-tracked records (pydantic, faust)."""
    gc.collect()
    t0 = time.perf_counter()
    for i in items:
        fn(i)
    return time.perf_counter() - t0


def fmt(v: float) -> str:
    return f"{v:,.0f}"
