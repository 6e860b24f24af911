"""`python -m bench.schema_formats`: every option timed and checked, the tables printed."""

from __future__ import annotations

import platform
import statistics
import sys
import time

import msgspec
import orjson
import pydantic

from bench.schema_formats.contract import N_EVENTS, REPS, SEED, WARMUP
from bench.schema_formats.d_faust import faust
from bench.schema_formats.events import make_events
from bench.schema_formats.measure import OPTIONS, fmt, rejection_matrix, roundtrip_stats, time_it


def main() -> int:
    t_start = time.perf_counter()
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"msgspec {msgspec.__version__}, orjson {orjson.__version__}, pydantic {pydantic.VERSION}, "
        f"faust-streaming {faust.__version__}"
    )
    blobs = make_events(N_EVENTS)
    assert len(set(blobs)) == N_EVENTS, "events must be distinct"
    avg = sum(map(len, blobs)) / len(blobs)
    print(
        f"{N_EVENTS:,} distinct events (random.Random({SEED})), "
        f"avg {avg:.0f} bytes, {REPS} reps each\n"
    )

    timings = {}
    for key, (label, dec, enc) in OPTIONS.items():
        dts, ets = [], []
        recs = [dec(b) for b in blobs]  # untimed; input for the encode benchmark
        for _ in range(WARMUP):
            time_it(dec, blobs)
            time_it(enc, recs)
        for _ in range(REPS):
            dts.append(time_it(dec, blobs))
        for _ in range(REPS):
            ets.append(time_it(enc, recs))
        timings[key] = (dts, ets)
        del recs  # keep the heap the same size for every option
        print(f"  timed {label}", flush=True)

    # correctness pass (untimed): round-trip, offsets, and a cross-check that every
    # option decoded every event to the same values (incl. the UTC offset)
    def norm(r):
        return (
            r.event_id,
            r.occurred_at,
            r.occurred_at.utcoffset(),
            r.source,
            r.channel,
            r.segment,
            r.district,
            r.method,
            r.amount_vnd,
            r.payer,
        )

    results = {}
    ref_norms = None
    mism = 0
    for key, (label, dec, enc) in OPTIONS.items():
        recs = [dec(b) for b in blobs]
        rt = roundtrip_stats(key, dec, enc, blobs, recs)
        results[key] = (label, *timings[key], rt)
        norms = [norm(r) for r in recs]
        if ref_norms is None:
            ref_norms = norms
        else:
            mism += sum(1 for x, y in zip(ref_norms, norms, strict=False) if x != y)
        del recs, norms

    matrix, required_ok = rejection_matrix()

    print(
        f"\n## Throughput (events/s over {N_EVENTS:,} events; median and min = slowest of "
        f"{REPS} reps, after {WARMUP} untimed warm-up pass)\n"
    )
    print(
        "| option | decode median | decode min | encode median | encode min "
        "| rejects 5 required bad inputs | decode(encode(x)) == x | offset kept on decode "
        "| offset kept on round-trip | timestamp text unchanged |"
    )
    print("|---|---:|---:|---:|---:|---|---|---|---|---|")
    for key, (label, dts, ets, (eq, off_src, off_rt, text_same, _c)) in results.items():
        print(
            f"| {label} | {fmt(N_EVENTS / statistics.median(dts))} | {fmt(N_EVENTS / max(dts))} "
            f"| {fmt(N_EVENTS / statistics.median(ets))} | {fmt(N_EVENTS / max(ets))} "
            f"| {'yes' if required_ok[key] else 'NO'} | {eq:,}/{N_EVENTS:,} "
            f"| {off_src:,}/{N_EVENTS:,} | {off_rt:,}/{N_EVENTS:,} | {text_same:,}/{N_EVENTS:,} |"
        )
    print(f"\nCross-check: (option, event) pairs decoded differently from (a): {mism}")
    print("\nTimestamp text changes on re-encode (value/offset preserved, text not):\n")
    for label, *_r, rt in results.values():
        ch = ", ".join(f"{k}: {v:,}" for k, v in sorted(rt[4].items())) or "none"
        print(f"- {label}: {ch}")
    print("\n## Rejection matrix (* = required; ✗ = verdict differs from expected)\n")
    print(
        "a:$ = msgspec with ^...$ patterns; c:Lit = pydantic strict but schema: Literal[1]; "
        "c:lax = pydantic Literal[1] and no strict; "
        "d:faust = faust.Record(validation=True).loads alone\n"
    )
    print(matrix)
    elapsed = time.perf_counter() - t_start
    print(f"\nTotal wall time {elapsed:.1f} s")
    bad = [k for k in OPTIONS if not required_ok[k]]
    if bad:
        print(f"FAIL: options {bad} accepted a required-bad input")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
