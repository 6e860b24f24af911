"""The Markdown page of a `make bench` run (docs/BENCHMARKS.md for a whole run)."""

from __future__ import annotations

from typing import Any

from bench.pipeline.plan import CONTENDERS

__all__ = ["markdown"]


def _fmt(s: dict[str, float] | None, digits: int = 0, unit: str = "") -> str:
    if not s:
        return "—"
    f = f"{{:,.{digits}f}}"
    if s["n"] == 1:
        return f.format(s["median"]) + unit
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def markdown(results: dict[str, Any]) -> str:
    m, d, plan = results["machine"], results["dataset"], results["plan"]
    t = results.get("throughput", {})
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{results['command']}` (`bench/pipeline/`); every figure below comes from "
        f"one run ({plan['reps']} "
        + ("repetitions: median, with min–max in brackets" if plan["reps"] > 1 else "repetition")
        + "). The raw figures, each repetition included, with when and at which commit they "
        f"were measured, are in `{results['results_file']}`.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cpus']} logical CPUs"
        + (f" at {m['cpu_mhz']:.0f} MHz" if m.get("cpu_mhz") else "")
        + " (`/proc/cpuinfo`); memory "
        f"{m['memory_gib']} GiB (`/proc/meminfo`); Linux {m['kernel']}",
        f"- Python {m['python']}; Kafka {m['kafka']} (the local single-node KRaft broker of "
        f"`ops/stack/`, on the same machine); faust-streaming {m['faust_streaming']}, "
        f"aiokafka {m['aiokafka']}, kafka-python {m['kafka_python']}, "
        f"quixstreams {m.get('quixstreams')}; the payment ledger's compiled kernel "
        f"`cashless_kernel` {m.get('cashless_kernel')}",
        "- The machine is shared with other jobs, so figures move between runs; compare "
        "runs of the same machine only.",
        "",
        "## Command",
        "",
        "```sh",
        results["command"],
        "```",
        "",
        "It installs what it needs (`make install`, and `.venv/bench-peer` with the `bench` extra: "
        "Quix Streams caps pydantic below the project's version, so the peer runs in its own "
        "virtualenv), starts the stack on free ports in a temporary directory, and stops every "
        "process and the stack at the end. `make bench BENCH_QUICK=1` is a small run for "
        "development (written to `.cashless/bench/quick.json` only).",
        "",
        "## Dataset",
        "",
        f"`cashless simulate --seed {d['seed']} --days {d['days']} --events-per-day "
        f"{d['events_per_day']} --end {d['end']} --duplicates {d['duplicates']} --late "
        f"{d['late']} --bad-records {d['bad_records']}`, sent into Kafka once "
        f"({d['load_seconds']:.0f} s) in {d['records']:,} records (up to 500 events per record, "
        f"one key per record): {d['payment_events']:,} payment events on `payments.events` "
        f"(valid, duplicate, late and bad), of which {d['applied_payments']:,} are applied in the "
        f"ground truth, and {d['file_account_lines']:,} account events on `payments.accounts`. "
        "Every contender reads the same `payments.events` topic from the beginning with its own "
        "consumer group; events/s counts all its payment events.",
        "",
        "## Throughput: one process each",
        "",
        "| contender | what it does | events/s | events/s incl. start-up | CPU s | peak RSS MB |"
        " events per run |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    what = {
        "ceiling": "aiokafka loop, project decoder, dict counters; no state, no guarantees",
        "naive": f"Faust agent, 2 hopping tables ({plan['window_minutes']} min windows every "
        f"{plan['step_minutes']} min, event time), memory store, per-event writes",
        "peer-hopping": f"Quix Streams: hopping window ({plan['window_minutes']} min every "
        f"{plan['step_minutes']} min, event time), Count + Sum per key, RocksDB + changelog",
        "peer-tumbling": "Quix Streams: tumbling window "
        f"({plan.get('tumbling_minutes', 1)} min, event time), Count + Sum of the amount per key, "
        "RocksDB + changelog",
        "peer-count": "Quix Streams: no window, a `State` per key (count and sum of the amount), "
        "RocksDB + changelog",
        "ours": "`cashless worker`: validation, DLQ, dedup, late rule, 4 windows (1h–30d), "
        "coverage, trend, changelogged RocksDB state, /metrics",
    }
    for name in CONTENDERS:
        s = t.get(name)
        if not s or not s.get("runs"):
            lines.append(f"| {name} | {what[name]} | not measured | | | | |")
            continue
        lines.append(
            f"| {name} | {what[name]} | {_fmt(s['events_per_s'])} | "
            f"{_fmt(s['wall_events_per_s'])} | {_fmt(s['cpu_s'], 1)} | {_fmt(s['rss_peak_mb'])} | "
            f"{_fmt(s['events'])} |"
        )
    ratios = results.get("ratios", {})
    fastest = results.get("fastest_peer")
    lines += [
        "",
        "Ratios of the medians: "
        + (", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()) or "none (missing runs)")
        + ".",
        "",
        (
            f"The fastest Quix Streams configuration of this run is `{fastest}`: "
            "`ours/fastest-peer` and the targets below compare ours with it."
            if fastest
            else "No Quix Streams configuration was measured in this run."
        ),
        "",
        "- *events/s* is from the process's first record to its end. *incl. start-up* also "
        "counts the time from the process start (interpreter, group join, Faust/Quix start-up).",
        "- The ceiling, naive and Quix processes time themselves (`time.time()` at their first "
        "record and at the end, `getrusage` for CPU and peak RSS). They stop at the last event or "
        f"after {plan['cap_seconds']:.0f} s of processing, whichever is first, so the slow ones "
        "are measured on the beginning of the topic.",
        "- `ours` is timed from outside: its `/metrics` is polled every "
        f"{plan['poll_seconds']} s; its start is the first poll showing an applied payment, "
        "the end is the first poll where `cashless_payments_total` summed equals the ground "
        "truth (so the end is up to one poll interval late); events/s is the share of the "
        "dataset's applied payments applied between those two polls, times its events, over "
        "the time between them. "
        "CPU (utime+stime) and peak RSS (VmHWM) are read from `/proc` at that moment. After "
        "that the whole `/metrics` is compared with the ground truth: "
        + ", ".join(
            f"run {i}: {r.get('truth_differences')} differences"
            for i, r in enumerate((t.get("ours") or {}).get("runs", []), start=1)
        )
        + ".",
        "- The naive, `peer-hopping` and `peer-tumbling` jobs compute one window per segment "
        "and `peer-count` none; `ours` computes four windows per segment and per district and "
        "city, and more besides, so the comparison flatters them. `naive` and `peer-hopping` "
        f"update {plan['window_minutes'] // plan['step_minutes']} windows per event (`naive` in "
        "each of its two tables), `peer-tumbling` and `peer-count` one value per event.",
        "",
    ]
    lines += profile_section(results.get("profile"), t.get("ours"))
    lat = results.get("latency")
    if lat:
        lines += [
            "## Latency: produce → visible in `/metrics`",
            "",
            "A `cashless worker` on fresh topics, warmed up, then "
            f"{lat['rate']:,} payment events/s for {lat['seconds']:.0f} s from "
            "`bench/live_load.py` (a second process, the "
            "project's Kafka producer, events of random segments grouped per key every 0.1 s "
            f"like `cashless simulate --rate`), while `/metrics` is polled every "
            f"{lat['poll_seconds']} s.",
            "",
            "| p50 ms | p99 ms | max ms | runs |",
            "| ---: | ---: | ---: | ---: |",
            f"| {_fmt(lat['p50_ms'])} | {_fmt(lat['p99_ms'])} | {_fmt(lat['max_ms'])} | "
            f"{len(lat['runs'])} |",
            "",
            "An event's latency runs from the `send()` of its Kafka record to the first `/metrics` "
            "response whose `cashless_payments_total` for its segment (summed over methods) "
            "includes it: a segment is one record key, so one partition, applied in order. The "
            f"poll interval bounds the resolution (each figure is up to {lat['poll_seconds']} s "
            "high).",
            "",
        ]
    rs = results.get("restart")
    if rs and rs["runs"]:
        differences = ", ".join(str(r["truth_differences"]) for r in rs["runs"])
        lines += [
            "## Catch-up after `kill -9`",
            "",
            "A `cashless worker` reads the dataset's topic from the start and is killed "
            f"(SIGKILL) once about {rs['behind']:,} of its events are left; the same worker (app "
            "id, port, local store) is started again at once. Timed from that start to the first "
            f"poll (every {results['plan']['live_poll_seconds']} s) where `/metrics` shows every "
            "applied payment of the ground truth.",
            "",
            "| seconds to caught up | events behind at the kill | runs |",
            "| ---: | ---: | ---: |",
            f"| {_fmt(rs['seconds'], 1)} | {_fmt(rs['events_behind'])} | {len(rs['runs'])} |",
            "",
            "Then the whole `/metrics` is compared with the ground truth (nothing lost, nothing "
            f"counted twice): differences per run {differences}.",
            "",
        ]
    rp, gw = results.get("replay"), results.get("gateway")
    if rp or gw:
        lines += [
            "## Producers into Kafka",
            "",
            "| producer | events/s | detail |",
            "| --- | ---: | --- |",
        ]
        if rp:
            lines.append(
                f"| `cashless replay` (the dataset file) | {_fmt(rp['events_per_s'])} | "
                "accepted events by replay's own clock; "
                f"{_fmt(rp['wall_lines_per_s'])} lines/s with process start-up |"
            )
        if gw:
            lines.append(
                f"| `cashless gateway`, batches of {gw['batch']} | {_fmt(gw['events_per_s'])} | "
                f"{_fmt(gw['requests_per_s'], 1)} requests/s from {gw['concurrency']} connections "
                f"of a second process; request p50 {_fmt(gw['p50_ms'])} ms, p99 "
                f"{_fmt(gw['p99_ms'])} ms |"
            )
        lines.append("")
    lines += [
        "## Against the performance targets",
        "",
        "| target | measured (median) | met |",
        "| --- | ---: | --- |",
    ]
    for row in results.get("targets", []):
        value = row["measured"]
        shown = "—" if value is None else (f"{value:,.2f}" if value < 100 else f"{value:,.0f}")
        met = {True: "yes", False: "no", None: "not measured"}[row["met"]]
        lines.append(f"| {row['target']} | {shown} | {met} |")
    lines += [
        "",
        "Measured apart from `make bench`, each with its own command: the cost of the window "
        "length, by the payment ledger alone with the running sums of all four windows against "
        "the 1-hour one only (`.venv/bin/python -m bench.ledger_cpu FILE --reps 5 [--windows "
        "1h]` on the dataset above written with `--out`); what the payment ledger holds in "
        "memory for 500 segments over 30 days (`.venv/bin/python -m bench.ledger_memory`); and "
        "the worker's RSS with N account holders and S segments of payments, which takes "
        "minutes (`.venv/bin/python -m bench.coverage_memory 2000000 --segments 500 --days 30`).",
        "",
    ]
    if results.get("errors"):
        lines += ["## Failed measurements", ""]
        lines += [f"- {e}" for e in results["errors"]]
        lines.append("")
    return "\n".join(lines)


def profile_section(profile: dict[str, Any] | None, ours: dict[str, Any] | None) -> list[str]:
    """Where the profiled run of ours spent its time, by part."""
    if not profile or not profile.get("samples"):
        return []
    rate = (ours or {}).get("events_per_s") or {}
    lines = [
        "## Where ours spends its time",
        "",
        "One more run of `ours` on the same dataset, not counted above, sampled by py-spy (250 "
        "samples/s of the worker's Python threads) from its first applied payment to the poll "
        f"that saw the last: {profile['samples']:,} samples, in "
        "`.cashless/bench/ours-profile.txt` (collapsed stacks, for `flamegraph.pl` or "
        "speedscope). A sample goes to the part of its innermost frame that belongs to one "
        "(`bench/time_by_part.py`): the time in msgspec and RocksDB, native code, goes to the "
        "project's function that called them.",
        "",
        "| part | share of samples | its top functions (share of all samples) |",
        "| --- | ---: | --- |",
    ]
    for part in profile["parts"]:
        top = "; ".join(f"`{f['function']}` {f['share']:.1%}" for f in part["top"])
        lines.append(f"| {part['part']} | {part['share']:.1%} | {top} |")
    if rate.get("median"):
        per_event = 1e6 / rate["median"]
        lines += [
            "",
            f"At the median rate above, one event costs {per_event:.1f} µs of the worker's "
            "time; each part's share of it is its share of the samples.",
        ]
    lines.append("")
    return lines
