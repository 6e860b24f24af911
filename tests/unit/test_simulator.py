"""The simulator: determinism, calibration to REFERENCE.md, scenarios, validity, and its truth."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cashless.durations import parse_duration
from cashless.errors import ConfigError
from cashless.eventtime import least_squares_slope, local_day
from cashless.schema import AccountEvent, EventDecoder, PaymentEvent, encode, encode_batch
from cashless.taxonomy import NONCASH_METHODS, Taxonomy, load_taxonomy
from cli.main import cli
from producers.ground_truth import expected_metrics
from producers.simulate.calibration import DAY, HANOI
from producers.simulate.faults import BadRecord, Emission
from producers.simulate.model import SimulationConfig, Simulator
from producers.simulate.pacing import parse_rate
from producers.simulate.truth import ground_truth
from producers.token_bucket import TokenBucket

KEY = b"unit-test-pseudonym-key"
END = datetime(2026, 11, 1, tzinfo=HANOI)
TAXONOMY = load_taxonomy()
BASE = SimulationConfig(end=END, seed=11, days=90, events_per_day=3000)


def generate(config: SimulationConfig) -> tuple[Simulator, list[Emission]]:
    simulator = Simulator(TAXONOMY, config, KEY)
    return simulator, [e for chunk in simulator.history() for e in chunk]


def as_bytes(emissions: Iterable[Emission]) -> bytes:
    return b"\n".join(e.raw if isinstance(e, BadRecord) else encode(e) for e in emissions)


def payments_of(emissions: Iterable[Emission]) -> list[PaymentEvent]:
    return [e for e in emissions if isinstance(e, PaymentEvent)]


def accounts_of(emissions: Iterable[Emission]) -> list[AccountEvent]:
    return [e for e in emissions if isinstance(e, AccountEvent)]


def share(events: Iterable[PaymentEvent]) -> float:
    cell = list(events)
    return sum(e.method in NONCASH_METHODS for e in cell) / len(cell)


def daily_slope(events: Iterable[PaymentEvent]) -> float:
    """Least-squares slope of the daily non-cash share (share points per day)."""
    days: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for e in events:
        cell = days[local_day(e.occurred_at.timestamp())]
        cell[0] += 1
        cell[1] += e.method in NONCASH_METHODS
    slope = least_squares_slope((d, noncash / n) for d, (n, noncash) in days.items())
    assert slope is not None
    return slope


def by_segment(payments: Iterable[PaymentEvent]) -> dict[str, list[PaymentEvent]]:
    cells: dict[str, list[PaymentEvent]] = defaultdict(list)
    for e in payments:
        cells[e.segment].append(e)
    return cells


@pytest.fixture(scope="module")
def history() -> tuple[Simulator, list[Emission]]:
    """Ninety days at 3,000 payments a day, no faults."""
    return generate(BASE)


# -- determinism ---------------------------------------------------------------------------------


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    days=st.integers(1, 3),
    events_per_day=st.integers(0, 150),
    faults=st.sampled_from([0.0, 0.05]),
)
def test_same_seed_gives_identical_bytes(
    seed: int, days: int, events_per_day: int, faults: float
) -> None:
    config = SimulationConfig(
        end=END,
        seed=seed,
        days=days,
        events_per_day=events_per_day,
        population_scale=0.0003,
        bad_records=faults,
        duplicates=faults,
        late=faults,
    )
    first = as_bytes(generate(config)[1])
    assert first == as_bytes(generate(config)[1])
    assert first  # the account base alone is never empty


def test_different_seed_gives_different_events() -> None:
    config = SimulationConfig(end=END, seed=1, days=2, events_per_day=100)
    assert as_bytes(generate(config)[1]) != as_bytes(generate(replace(config, seed=2))[1])


def test_command_output_is_byte_identical(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["simulate", "--days", "3", "--events-per-day", "300", "--end", END.isoformat()]
    args += ["--bad-records", "0.02", "--duplicates", "0.02", "--late", "0.02"]
    env = {"CASHLESS_PSEUDONYM_KEY": "0123456789abcdef0123"}
    for name in ("a", "b"):
        result = runner.invoke(cli, [*args, "--out", str(tmp_path / f"{name}.jsonl")], env=env)
        assert result.exit_code == 0, result.output
    for suffix in (".jsonl", ".truth.json", ".districts.csv"):
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()
    assert (tmp_path / "a.jsonl").read_bytes().count(b"\n") > 900


# -- calibration (REFERENCE.md) ------------------------------------------------------------------


def test_utilities_are_calibrated(history: tuple[Simulator, list[Emission]]) -> None:
    cells = by_segment(payments_of(history[1]))
    assert share(cells["electricity"]) >= 0.995
    assert share(cells["water"]) == pytest.approx(0.967, abs=0.02)
    for lower in ("tuition", "hospital"):
        assert 0.55 <= share(cells[lower]) <= 0.85
        assert share(cells[lower]) < share(cells["water"])
    for other in ("tax", "telecom", "public-service", "social-insurance"):
        assert share(cells["hospital"]) < share(cells[other]) < share(cells["electricity"])


def test_markets_are_below_half_and_rise_at_different_speeds(
    history: tuple[Simulator, list[Emission]],
) -> None:
    cells = by_segment(payments_of(history[1]))
    markets = TAXONOMY.segments_of("market")
    slopes = {m: daily_slope(cells[m]) for m in markets}
    for market in markets:
        assert share(cells[market]) < 0.5, market
        assert slopes[market] > 0, market
    assert max(slopes.values()) > 1.5 * min(slopes.values())


def test_streets_are_above_half(history: tuple[Simulator, list[Emission]]) -> None:
    cells = by_segment(payments_of(history[1]))
    for street in TAXONOMY.segments_of("street"):
        assert share(cells[street]) > 0.5, street


def test_rural_districts_are_behind_urban_ones(history: tuple[Simulator, list[Emission]]) -> None:
    kinds: dict[str, list[PaymentEvent]] = defaultdict(list)
    for e in payments_of(history[1]):
        if e.channel == "utility":  # the same services everywhere, so shares compare
            kinds[TAXONOMY.districts[e.district].kind].append(e)
    assert share(kinds["rural"]) < share(kinds["urban"]) - 0.02


def test_market_and_street_payments_happen_in_their_own_district(
    history: tuple[Simulator, list[Emission]],
) -> None:
    for e in payments_of(history[1]):
        if e.channel != "utility":
            assert e.district == TAXONOMY.segments[e.channel, e.segment].district


def test_utility_payments_follow_population(history: tuple[Simulator, list[Emission]]) -> None:
    counts = Counter(e.district for e in payments_of(history[1]) if e.channel == "utility")
    total = sum(counts.values())
    for slug, district in TAXONOMY.districts.items():
        expected = district.population / TAXONOMY.population
        assert counts[slug] / total == pytest.approx(expected, rel=0.15), slug


def test_methods_mix_per_channel(history: tuple[Simulator, list[Emission]]) -> None:
    methods: dict[str, Counter[str]] = defaultdict(Counter)
    for e in payments_of(history[1]):
        methods[e.channel][e.method] += 1
    assert set(methods["utility"]) == set(NONCASH_METHODS) | {"cash"}
    assert "direct_debit" not in methods["market"]
    assert methods["market"].most_common(2)[0][0] == "cash"
    assert methods["market"].most_common(2)[1][0] == "qr"
    assert methods["street"].most_common(1)[0][0] == "qr"


def test_amounts_are_realistic(history: tuple[Simulator, list[Emission]]) -> None:
    amounts: dict[str, list[int]] = defaultdict(list)
    for e in payments_of(history[1]):
        amounts[e.segment].append(e.amount_vnd)

    def median(segment: str) -> int:
        values = sorted(amounts[segment])
        return values[len(values) // 2]

    assert 400_000 < median("electricity") < 900_000
    assert 100_000 < median("water") < 300_000
    assert 40_000 < median("dong-xuan") < 200_000
    assert median("tuition") > median("electricity") > median("water")


def test_coverage_rises_toward_the_goal(history: tuple[Simulator, list[Emission]]) -> None:
    simulator, emissions = history
    accounts = accounts_of(emissions)
    population = simulator.population

    def coverage(at: float) -> float:
        upto = [a for a in accounts if a.occurred_at.timestamp() < at]
        ratio = expected_metrics([], upto, population).get("cashless_city_epayment_account_ratio")
        assert ratio is not None
        return ratio

    curve = [coverage(simulator.origin + day * DAY) for day in (0, 30, 60, 90)]
    assert curve == sorted(curve)
    assert curve[0] < 0.45
    assert 0.45 < curve[-1] < 0.6
    assert abs(curve[-1] - 0.5) < abs(curve[0] - 0.5)
    kinds = Counter(a.type for a in accounts if a.occurred_at.timestamp() >= simulator.origin)
    assert 0 < kinds["closed"] < kinds["opened"]


def test_accounts_span_providers_and_people_hold_two(
    history: tuple[Simulator, list[Emission]],
) -> None:
    accounts = accounts_of(history[1])
    assert len({a.holder for a in accounts}) > 2000
    assert {a.source for a in accounts} >= {"momo", "zalopay", "vnpay", "vietcombank"}
    providers: dict[str, set[str]] = defaultdict(set)
    for a in accounts:
        providers[a.holder].add(a.source)
    assert sum(len(p) >= 2 for p in providers.values()) > 0.1 * len(providers)
    assert all(len(h) == 64 for h in providers)


# -- scenarios -----------------------------------------------------------------------------------


def test_stall_flattens_only_that_segment(history: tuple[Simulator, list[Emission]]) -> None:
    _, stalled = generate(replace(BASE, stall=frozenset({"dong-xuan", "hospital"})))
    cells = by_segment(payments_of(stalled))
    for segment in ("dong-xuan", "hospital"):
        assert abs(daily_slope(cells[segment])) < 0.0003, segment
        assert share(cells[segment]) < 0.45, segment
    assert daily_slope(cells["hom"]) > 0.0003
    # Every other segment's events are exactly those of the run without --stall.
    base = [e for e in payments_of(history[1]) if e.segment not in {"dong-xuan", "hospital"}]
    assert [e for e in payments_of(stalled) if e.segment not in {"dong-xuan", "hospital"}] == base


def test_silent_source_stops_halfway(history: tuple[Simulator, list[Emission]]) -> None:
    simulator, emissions = history
    silenced, quiet = generate(replace(BASE, silent=frozenset({"evn-hanoi", "momo"})))
    middle = simulator.origin + 45 * DAY
    assert silenced.silent_after == middle

    def dropped(e: Emission) -> bool:
        return e.source in {"evn-hanoi", "momo"} and e.occurred_at.timestamp() >= middle  # type: ignore[union-attr]

    assert quiet == [e for e in emissions if not dropped(e)]
    assert len(quiet) < len(emissions)
    sources = {e.source for e in payments_of(quiet)}
    assert "evn-hanoi" in sources  # it did send, before it went silent


def test_bad_records_are_rejected_for_their_reason() -> None:
    config = SimulationConfig(end=END, seed=3, days=3, events_per_day=2000, bad_records=0.05)
    simulator, emissions = generate(config)
    _, clean = generate(replace(config, bad_records=0.0))
    assert [e for e in emissions if not isinstance(e, BadRecord)] == clean
    decoder = EventDecoder(TAXONOMY, clock=lambda: simulator.end)
    expected = {
        "unknown_segment": "unknown_segment",
        "unknown_district": "unknown_district",
        "missing_field": "missing_field:",
        "invalid_amount": "invalid_field:amount_vnd",
        "bad_json": "bad_json",
        "bad_utf8": "bad_utf8",
        "future_timestamp": "future_timestamp",
    }
    bad = [e for e in emissions if isinstance(e, BadRecord)]
    assert len(bad) == simulator.injected["bad_records"]
    assert len(bad) == pytest.approx(0.05 * 6000, rel=0.25)
    assert {b.fault for b in bad} == set(expected)
    for record in bad:
        assert b"\n" not in record.raw
        result = decoder.decode_payments(record.raw)
        assert result.events == []
        assert len(result.rejections) == 1
        assert result.rejections[0].reason.startswith(expected[record.fault]), record


def test_duplicates_are_counted_by_the_oracle() -> None:
    config = SimulationConfig(end=END, seed=5, days=45, events_per_day=400, duplicates=0.02)
    simulator, emissions = generate(config)
    ids = Counter((e.source, e.event_id) for e in payments_of(emissions))
    assert simulator.injected["duplicates"] > 0
    assert sum(n - 1 for n in ids.values()) == simulator.injected["duplicates"]
    truth = ground_truth(emissions, simulator.population, now=simulator.end)
    assert truth.get("cashless_events_duplicate_total") == simulator.injected["duplicates"]


def test_late_events_are_out_of_order_and_some_beyond_the_horizon() -> None:
    config = SimulationConfig(end=END, seed=5, days=45, events_per_day=400, late=0.03)
    simulator, emissions = generate(config)
    payments = payments_of(emissions)
    truth = ground_truth(emissions, simulator.population, now=simulator.end)
    late = truth.get("cashless_events_late_total")
    assert late is not None
    # About a quarter are older than the 30-day horizon (fewer early on, before stream time).
    assert 0.1 * simulator.injected["late"] < late < 0.35 * simulator.injected["late"]
    out_of_order = sum(a.occurred_at > b.occurred_at for a, b in itertools.pairwise(payments))
    assert out_of_order > simulator.injected["late"] / 2


def test_every_typed_event_passes_the_decoder() -> None:
    config = SimulationConfig(
        end=END, seed=9, days=5, events_per_day=1000, bad_records=0.02, duplicates=0.02, late=0.02
    )
    simulator, emissions = generate(config)
    decoder = EventDecoder(TAXONOMY, clock=lambda: simulator.end)
    payments, accounts = payments_of(emissions), accounts_of(emissions)
    for start in range(0, max(len(payments), len(accounts)), 500):
        decoded_payments = decoder.decode_payments(encode_batch(payments[start : start + 500]))
        decoded_accounts = decoder.decode_accounts(encode_batch(accounts[start : start + 500]))
        assert decoded_payments.rejections == []
        assert decoded_accounts.rejections == []
        assert decoded_payments.events == payments[start : start + 500]
        assert decoded_accounts.events == accounts[start : start + 500]
    assert all(e.occurred_at.timestamp() < simulator.end for e in payments + accounts)


def test_live_interval_stamps_the_present() -> None:
    config = SimulationConfig(end=END, seed=2, days=90, events_per_day=0)
    simulator = Simulator(TAXONOMY, config, KEY)
    start = simulator.end
    backfill = simulator.backfill(start)
    assert all(e.occurred_at.timestamp() < start for e in backfill)  # type: ignore[union-attr]
    chunk = simulator.interval(start, start + 5 * DAY, 50, live=True)
    assert len(payments_of(chunk)) == 50
    assert {e.occurred_at.timestamp() for e in chunk} == {start + 5 * DAY}  # type: ignore[union-attr]
    assert accounts_of(chunk)  # five days of coverage growth


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="stall"):
        Simulator(TAXONOMY, replace(BASE, stall=frozenset({"no-such-market"})), KEY)
    with pytest.raises(ConfigError, match="silence"):
        Simulator(TAXONOMY, replace(BASE, silent=frozenset({"no-such-source"})), KEY)
    with pytest.raises(ConfigError, match="offset"):
        SimulationConfig(end=datetime(2026, 1, 1))
    with pytest.raises(ConfigError, match="rate"):
        SimulationConfig(end=END, late=1.5)


# -- the truth file ------------------------------------------------------------------------------


def read_back(path: Path, taxonomy: Taxonomy, now: float) -> dict[tuple[str, str], float]:
    """Decode the JSONL output as a worker would and recompute every metric from scratch."""
    decoder = EventDecoder(taxonomy, clock=lambda: now)
    payments: list[PaymentEvent] = []
    accounts: list[AccountEvent] = []
    rejected: Counter[str] = Counter()
    for line in path.read_bytes().splitlines():
        result = decoder.decode_mixed(line)
        for event in result.events:
            (payments if isinstance(event, PaymentEvent) else accounts).append(event)
        rejected.update(r.reason for r in result.rejections)
    truth = expected_metrics(payments, accounts, taxonomy, rejected=rejected)
    return {
        (n, json.dumps(dict(labels), sort_keys=True)): v for (n, labels), v in truth.values.items()
    }


def test_truth_file_matches_the_output_read_back(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = ["simulate", "--days", "40", "--events-per-day", "500", "--end", END.isoformat()]
    args += ["--bad-records", "0.01", "--duplicates", "0.01", "--late", "0.02", "--stall", "mo"]
    args += ["--silent", "hawaco", "--out", str(out)]
    result = CliRunner().invoke(cli, args, env={"CASHLESS_PSEUDONYM_KEY": "k" * 32})
    assert result.exit_code == 0, result.output
    written = {
        (row["name"], json.dumps(row["labels"], sort_keys=True)): row["value"]
        for row in json.loads((tmp_path / "events.truth.json").read_bytes())
    }
    scaled = load_taxonomy(districts_file=tmp_path / "events.districts.csv")
    assert scaled.population == pytest.approx(TAXONOMY.population * 0.001, rel=0.01)
    assert written == read_back(out, scaled, END.timestamp())
    names = {name for name, _ in written}
    assert {"cashless_events_rejected_total", "cashless_events_duplicate_total"} <= names
    assert written["cashless_events_late_total", "{}"] > 0
    assert 0.4 < written["cashless_city_epayment_account_ratio", "{}"] < 0.6


# -- pacing --------------------------------------------------------------------------------------


def test_token_bucket_paces_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(200.0, 20.0, lambda: now[0])
    assert bucket.take() == 0
    assert bucket.wait(20) == pytest.approx(0.1)
    now[0] = 0.05
    assert bucket.take() == 10
    now[0] = 10.0  # a long pause does not let a burst above the cap through
    assert bucket.take() == 20
    taken = 0
    for step in range(1, 101):
        now[0] = 10.0 + step * 0.01
        taken += bucket.take()
    assert taken == pytest.approx(200, abs=1)


def test_rates_and_durations_parse() -> None:
    assert parse_rate("200/s") == 200.0
    assert parse_rate("200") == 200.0
    assert parse_rate("12000/m") == 200.0
    assert parse_rate("7200/h") == 2.0
    assert parse_duration("90") == 90.0
    assert parse_duration("10m") == 600.0
    assert parse_duration("2h") == 7200.0
    for bad in ("fast", "0/s", "-1"):
        with pytest.raises(ConfigError, match="rate"):
            parse_rate(bad)
    with pytest.raises(ConfigError, match="duration"):
        parse_duration("soon")


def test_live_command_is_paced(tmp_path: Path) -> None:
    out = tmp_path / "live.jsonl"
    args = ["simulate", "--rate", "1000/s", "--duration", "1.5s", "--out", str(out), "--no-truth"]
    result = CliRunner().invoke(cli, args, env={"CASHLESS_PSEUDONYM_KEY": "k" * 32})
    assert result.exit_code == 0, result.output
    payments = [line for line in out.read_bytes().splitlines() if b'"channel"' in line]
    assert 600 <= len(payments) <= 1500 + 100


def test_ctrl_c_stops_live_mode_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "live.jsonl"
    command = [sys.executable, "-m", "cli", "simulate", "--rate", "500/s"]
    env = {**os.environ, "CASHLESS_PSEUDONYM_KEY": "k" * 32}
    process = subprocess.Popen(
        [*command, "--out", str(out)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while b'"channel"' not in (out.read_bytes() if out.exists() else b""):
            assert time.monotonic() < deadline, "no payment was written"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopping after the current batch" in stderr
    written = {
        (row["name"], json.dumps(row["labels"], sort_keys=True)): row["value"]
        for row in json.loads((tmp_path / "live.truth.json").read_bytes())
    }
    scaled = load_taxonomy(districts_file=tmp_path / "live.districts.csv")
    # The truth was computed at the end of the run: any later clock sees the same rejections.
    assert written == read_back(out, scaled, time.time())
    payments = sum(v for (n, _), v in written.items() if n == "cashless_payments_total")
    assert payments == sum(1 for line in out.read_bytes().splitlines() if b'"channel"' in line)


def test_a_user_taxonomy_is_simulated_too(tmp_path: Path) -> None:
    segments = tmp_path / "segments.csv"
    segments.write_text(
        "channel,segment,name,district\n"
        "utility,district-heating,District heating,\n"
        "market,night-market,Night market,\n"
        "street,ta-hien,Phố Tạ Hiện,hoan-kiem\n",
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(segments_file=segments)
    config = SimulationConfig(end=END, seed=1, days=2, events_per_day=600)
    simulator = Simulator(taxonomy, config, KEY)
    payments = payments_of(e for chunk in simulator.history() for e in chunk)
    assert {e.source for e in payments} == {
        "district-heating-hanoi",
        "night-market-board",
        "ta-hien-operator",
    }
    night = [e for e in payments if e.segment == "night-market"]
    assert len({e.district for e in night}) > 10  # no district of its own: spread over the city
    decoder = EventDecoder(taxonomy, clock=lambda: simulator.end)
    assert decoder.decode_payments(encode_batch(payments)).rejections == []
