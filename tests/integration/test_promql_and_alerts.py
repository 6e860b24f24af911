"""What it must show: every panel and rule query answers from a real Prometheus, and a stall alerts.

One simulated city (a market stalled below the goal) goes into the real Kafka, one real
`cashless worker` consumes it on the port the session's Prometheus scrapes, and then:

- every PromQL expression of the Grafana boards, the Grafana alert rules and the Prometheus
  rule files runs against that Prometheus: each is valid, and each that must show data does;
- the overview's "Stalled segments" panel names exactly the stalled market;
- a second Prometheus, loaded with a copy of the rule files whose `for:` durations are cut to
  seconds, sends CashlessAdoptionStalled for that market to the session's Alertmanager, and
  for no other segment (not for electricity at 99.9%).

The simulator's ground truth (`--truth`, computed by `producers.ground_truth`, independent of the
worker) says which segments are below the goal and not rising, so the expected alerts are not
hard-coded guesses.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from cashless.metrics import METRICS
from dashboards.queries import all_expressions
from ops.stack import local_prometheus_config
from ops.stack.ports import free_port
from reports.projection import HANOI
from tests.conftest import ROOT, RunningStack, wait_for

pytestmark = pytest.mark.integration

T = TypeVar("T")
Segment = tuple[str, str]  # (channel, segment)
Series = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted labels)

KEY = "promql-alerts-test-key-0123456789abcd"
END = "2026-11-22T00:00:00+07:00"
STALLED = ("market", "dong-xuan")
SATURATED = ("utility", "electricity")
TREND_THRESHOLD = 0.0003  # CashlessAdoptionStalled's "not rising", share per day
RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
SHORT_FOR = "3s"  # long enough to ride out one odd evaluation, short enough for a test
RATE_INTERVAL = "1m"

# A reduced taxonomy, so that each segment carries enough payments a day for its 30-day trend
# to tell a stall from noise. With the full starter list (17 markets) at 3,000 events a day a
# market gets ~60 payments a day, the slope's standard error is ~0.001 a day, three times the
# alert's threshold: the stalled market measured +0.0003–0.0004 with two seeds (no alert) while
# half the healthy markets fell below it. Here each market gets ~1,400 a day (error ~0.0002).
SEGMENTS_CSV = """\
channel,segment,name,district
utility,electricity,Electricity bills,
utility,water,Water bills,
market,dong-xuan,Chợ Đồng Xuân,hoan-kiem
market,hom,Chợ Hôm,hai-ba-trung
street,hang-dao,Phố Hàng Đào,hoan-kiem
"""
SIMULATION = [
    *("--seed", "3", "--days", "31", "--events-per-day", "8000", "--end", END),
    *("--stall", STALLED[1], "--bad-records", "0.01", "--duplicates", "0.01", "--late", "0.01"),
    *("--batch-size", "500"),
]

# Alerts whose expression must return nothing while a healthy worker is scraped.
MUST_BE_QUIET = {"CashlessWorkerDown", "CashlessNoMetrics"}
# Alerts whose expression must return series in this scenario.
MUST_FIRE = {"CashlessAdoptionStalled", "CashlessBelowGoal"}

_INTERVAL_VARIABLE = re.compile(r"\$\{?__(?:rate_)?interval\}?|\[\[__(?:rate_)?interval\]\]")


class Query(NamedTuple):
    """One expression to run: where it comes from, its PromQL, and what its answer must hold."""

    dashboard: str
    panel: str
    expr: str
    expect: str  # "data", "empty" or "any"


@dataclass(frozen=True)
class Scenario:
    """The simulated run, fully applied by the worker that the session's Prometheus scrapes."""

    truth: dict[Series, float]
    stalled: frozenset[Segment]
    below_goal: frozenset[Segment]
    data: Path
    """Where the run's taxonomy files are (the report reads them as the worker does)."""

    def value(self, name: str, **labels: str) -> float:
        """The true value of one series."""
        return self.truth[name, tuple(sorted(labels.items()))]


# -- helpers ---------------------------------------------------------------------------------------


def _environment(stack: RunningStack, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CASHLESS_BOOTSTRAP_SERVERS=stack.bootstrap,
        CASHLESS_PSEUDONYM_KEY=KEY,
        CASHLESS_DISTRICTS_FILE=str(data / "districts.csv"),
        CASHLESS_SEGMENTS_FILE=str(data / "segments.csv"),
    )
    return env


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query: `status`, and `data` or `error`."""
    try:
        response = httpx.post(f"{prometheus}/api/v1/query", data={"query": expr}, timeout=10)
        answer: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return answer


def _vector(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = _query(prometheus, expr)
    assert answer["status"] == "success", f"{expr}: {answer.get('error')}"
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _scalar(prometheus: str, expr: str) -> float | None:
    result = _vector(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def _segments(series: list[dict[str, Any]]) -> set[Segment]:
    return {(s["metric"]["channel"], s["metric"]["segment"]) for s in series}


def _eventually(read: Callable[[], T], expected: T, timeout: float) -> T:
    """What `read` returns once it equals `expected`, or at the deadline (for the diff)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _rule_queries() -> list[Query]:
    queries = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                if "record" in rule and "cashless_gateway_" in rule["expr"]:
                    expect = "any"  # no gateway in this scenario: its series do not exist
                elif "record" in rule:
                    expect = "data"  # what the alerts read: empty would blind them
                elif name in MUST_FIRE:
                    expect = "data"
                elif name in MUST_BE_QUIET:
                    expect = "empty"
                else:
                    expect = "any"
                queries.append(Query(path.name, name, rule["expr"], expect))
    return queries


def _all_queries() -> list[Query]:
    boards = [
        Query(e.dashboard, e.panel, e.expr, "data" if e.should_have_data else "any")
        for e in all_expressions(rate_interval=RATE_INTERVAL)
    ]
    queries = boards + _rule_queries()
    return [q._replace(expr=_INTERVAL_VARIABLE.sub(RATE_INTERVAL, q.expr)) for q in queries]


def _stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _scrape(port: int) -> dict[Series, float]:
    """The series a worker serves now (empty while it does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in METRICS  # the contract's series (not the consumer lag)
    }


def _difference(actual: dict[Series, float], truth: dict[Series, float]) -> list[str]:
    problems = [f"missing {s}" for s in truth if s not in actual]
    problems += [f"extra {s}" for s in actual if s not in truth]
    problems += [
        f"wrong {s}: {actual[s]} != {v}"
        for s, v in truth.items()
        if s in actual and abs(actual[s] - v) > 1e-9
    ]
    return problems


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text("utf-8", errors="replace")[-chars:] if path.exists() else ""


# -- the scenario ----------------------------------------------------------------------------------


def _simulate(stack: RunningStack, data: Path, prefix: str) -> Scenario:
    command = [
        *(sys.executable, "-m", "cli", "simulate", *SIMULATION),
        *("--topic-prefix", prefix, "--truth", str(data / "truth.json")),
        *("--districts-out", str(data / "districts.csv"), "--segments-file"),
        str(data / "segments.csv"),
    ]
    env = _environment(stack, data)
    # The simulator writes the scaled district table (for the worker) from the packaged one.
    del env["CASHLESS_DISTRICTS_FILE"]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    truth = {
        (item["name"], tuple(sorted(item["labels"].items()))): float(item["value"])
        for item in json.loads((data / "truth.json").read_text("utf-8"))
    }
    shares = {
        (dict(labels)["channel"], dict(labels)["segment"]): value
        for (name, labels), value in truth.items()
        if name == "cashless_noncash_ratio" and dict(labels)["window"] == "30d"
    }
    trends = {
        (dict(labels)["channel"], dict(labels)["segment"]): value
        for (name, labels), value in truth.items()
        if name == "cashless_adoption_trend_per_day"
    }
    goal = truth["cashless_goal_ratio", (("goal", "noncash"),)]
    below = frozenset(s for s, share in shares.items() if share < goal)
    stalled = frozenset(s for s in below if s in trends and trends[s] < TREND_THRESHOLD)
    return Scenario(truth=truth, stalled=stalled, below_goal=below, data=data)


@pytest.fixture(scope="module")
def scenario(
    running_stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    """The run in Kafka and one worker on the scraped port, waited for until fully applied."""
    data = tmp_path_factory.mktemp("promql")
    (data / "segments.csv").write_text(SEGMENTS_CSV, "utf-8")
    prefix = f"promql{uuid.uuid4().hex[:8]}."
    run = _simulate(running_stack, data, prefix)
    # The scenario itself must hold, or the alert assertions below would prove nothing.
    assert run.stalled == {STALLED}, f"the simulated stall is not the only stall: {run.stalled}"
    electricity = run.value(
        "cashless_noncash_ratio", channel="utility", segment="electricity", window="30d"
    )
    assert electricity > 0.99, "electricity is saturated, far above the goal"

    log = data / "worker.log"
    command = [
        *(sys.executable, "-m", "cli", "worker", "--topic-prefix", prefix),
        *("--app-id", f"promql-{uuid.uuid4().hex[:6]}", "--state-dir", str(data / "state")),
        *("--web-port", str(running_stack.target_port)),
    ]
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_environment(running_stack, data),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def equal() -> bool:
            assert worker.poll() is None, f"the worker exited:\n{_tail(log)}"
            return not _difference(_scrape(running_stack.target_port), run.truth)

        try:
            wait_for(equal, timeout=180, what="the worker's /metrics to equal the ground truth")
        except AssertionError as exc:
            problems = _difference(_scrape(running_stack.target_port), run.truth)
            raise AssertionError(f"{exc}: {problems[:10]}\nworker log:\n{_tail(log)}") from None
        # Catching up, the worker can answer a scrape slower than the 1 s scrape timeout; a
        # failed scrape marks every series stale. Start from successful scrapes of the end state.
        applied_at = time.time()
        scraped = 'timestamp(up{job="cashless-worker"} == 1)'
        wait_for(
            lambda: (_scalar(running_stack.prometheus_url, scraped) or 0) > applied_at + 2,
            timeout=30,
            what="Prometheus to scrape the fully applied run",
        )
        yield run
    finally:
        _stop(worker)


# -- every query answers ---------------------------------------------------------------------------


def test_every_panel_and_rule_expression_runs_on_the_real_prometheus(
    running_stack: RunningStack, scenario: Scenario
) -> None:
    queries = _all_queries()
    assert {q.dashboard for q in queries} >= {"Grafana alert rules", "cashless.yml"}
    assert sum(q.expect == "data" for q in queries) > len(queries) // 2

    failures = []
    for q in queries:
        where = f"[{q.dashboard} / {q.panel}]"
        if "$" in q.expr:
            failures.append(f"{where} template variable left in: {q.expr}")
            continue
        answer = _query(running_stack.prometheus_url, q.expr)
        if answer.get("status") != "success":
            failures.append(f"{where} {answer.get('error')}: {q.expr}")
            continue
        result = answer["data"]["result"]
        empty = isinstance(result, list) and not result
        if q.expect == "data" and empty:
            failures.append(f"{where} returned no series: {q.expr}")
        elif q.expect == "empty" and not empty:
            failures.append(f"{where} returned {result}: {q.expr}")
    if failures:
        # Told apart from a product fault: a failed scrape empties every panel for a moment.
        up = 'up{job="cashless-worker"}[15s]'
        failed = _scalar(
            running_stack.prometheus_url, f"count_over_time({up}) - sum_over_time({up})"
        )
        failures.append(f"(failed scrapes of the worker in the last 15 s: {failed})")
    assert not failures, f"{len(failures)} of {len(queries)} queries failed:\n" + "\n".join(
        failures
    )


def test_the_project_rules_evaluate_without_errors(
    running_stack: RunningStack, scenario: Scenario
) -> None:
    names = {q.panel for q in _rule_queries()}
    groups = httpx.get(f"{running_stack.prometheus_url}/api/v1/rules", timeout=10).json()
    rules = {r["name"]: r for g in groups["data"]["groups"] for r in g["rules"]}
    assert set(rules) == names, "Prometheus loaded exactly the rules of ops/prometheus/rules"
    # The session Prometheus evaluates every second, and has scraped the applied run twice.
    problems = [
        f"{name}: {rule['health']} {rule.get('lastError', '')}"
        for name, rule in rules.items()
        if rule["health"] != "ok" or rule.get("lastError")
    ]
    assert not problems, problems


def test_the_overview_names_exactly_the_stalled_segment(
    running_stack: RunningStack, scenario: Scenario
) -> None:
    panels: dict[tuple[str, str], str] = {}
    for e in all_expressions(rate_interval=RATE_INTERVAL):
        panels.setdefault((e.dashboard, e.panel), e.expr)  # a panel's first query: its data
    overview = "Cashless Monitor — City overview"
    prometheus = running_stack.prometheus_url
    stalled = _segments(_vector(prometheus, panels[overview, "Stalled segments"]))
    below = _segments(_vector(prometheus, panels[overview, "Segments below the goal"]))
    count = _scalar(prometheus, panels[overview, "Number of stalled segments"])
    assert stalled == scenario.stalled == {STALLED}
    assert below == scenario.below_goal
    assert count == len(scenario.stalled)


# -- the stall alert reaches Alertmanager ----------------------------------------------------------


def _short_rules(directory: Path) -> Path:
    """A copy of the project's rule files with every `for:` cut to SHORT_FOR."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in RULES_DIR.glob("*.yml"):
        document = yaml.safe_load(path.read_text("utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = SHORT_FOR
        (directory / path.name).write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return directory


@pytest.fixture
def alerting_prometheus(
    running_stack: RunningStack, scenario: Scenario, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A second Prometheus, as the stack configures it but with the short rules, and a label
    (`cashless_test`) on everything it sends so that the shared Alertmanager tells its alerts
    apart. Yields its URL and that label's value; resolves its alerts when done."""
    run_id = uuid.uuid4().hex[:12]
    port = free_port()
    settings = running_stack.stack.settings.model_copy(update={"prometheus_port": port})
    config: dict[str, Any] = local_prometheus_config(settings)
    config["global"]["evaluation_interval"] = "1s"
    config["global"]["scrape_interval"] = "1s"
    config["global"]["external_labels"] = {"cashless_test": run_id}
    config["rule_files"] = [str(_short_rules(tmp_path / "rules") / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
    log = tmp_path / "prometheus.log"
    command = [
        "prometheus",
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            assert process.poll() is None, f"Prometheus exited:\n{_tail(log)}"
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=30, what="the second Prometheus to be ready")
        yield url, run_id
    finally:
        _stop(process)
        _resolve(running_stack.alertmanager_url, run_id)


def _alertmanager_alerts(alertmanager: str, run_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{alertmanager}/api/v2/alerts",
        params={"filter": [f'cashless_test="{run_id}"']},
        timeout=10,
    )
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


def _resolve(alertmanager: str, run_id: str) -> None:
    """End this test's alerts now, so that they inhibit nothing in later tests."""
    now = datetime.now(UTC).isoformat()
    ended = [
        {
            "labels": a["labels"],
            "annotations": a["annotations"],
            "startsAt": a["startsAt"],
            "endsAt": now,
        }
        for a in _alertmanager_alerts(alertmanager, run_id)
    ]
    if ended:
        httpx.post(f"{alertmanager}/api/v2/alerts", json=ended, timeout=10).raise_for_status()


def _states(alerts: list[dict[str, Any]], name: str) -> dict[Segment, str]:
    return {
        (a["labels"]["channel"], a["labels"]["segment"]): a["status"]["state"]
        for a in alerts
        if a["labels"]["alertname"] == name
    }


def test_a_stall_reaches_alertmanager_and_a_saturated_segment_does_not(
    running_stack: RunningStack,
    scenario: Scenario,
    alerting_prometheus: tuple[str, str],
) -> None:
    prometheus, run_id = alerting_prometheus
    alertmanager = running_stack.alertmanager_url

    def firing() -> set[Segment]:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {
            (a["labels"]["channel"], a["labels"]["segment"])
            for a in alerts
            if a["labels"]["alertname"] == "CashlessAdoptionStalled" and a["state"] == "firing"
        }

    assert _eventually(firing, {STALLED}, timeout=60) == {STALLED}
    # Electricity was scraped and evaluated by the same rules, and is above the goal.
    electricity = _scalar(
        prometheus,
        'segment:cashless_noncash_ratio:max{channel="utility",segment="electricity",window="30d"}',
    )
    assert electricity is not None, "electricity's share reached the second Prometheus"
    assert electricity > 0.99

    def stalled_in_alertmanager() -> dict[Segment, str]:
        return _states(_alertmanager_alerts(alertmanager, run_id), "CashlessAdoptionStalled")

    states = _eventually(stalled_in_alertmanager, {STALLED: "active"}, timeout=60)
    assert states == {STALLED: "active"}, "only the stalled market alerts, electricity does not"
    assert SATURATED not in states

    alerts = _alertmanager_alerts(alertmanager, run_id)
    (stall,) = [a for a in alerts if a["labels"]["alertname"] == "CashlessAdoptionStalled"]
    channel, segment = STALLED
    assert stall["labels"] == {
        "alertname": "CashlessAdoptionStalled",
        "severity": "warning",
        "area": "adoption",
        "job": "cashless-worker",
        "channel": channel,
        "segment": segment,
        "window": "30d",
        "cashless_test": run_id,
    }
    assert [r["name"] for r in stall["receivers"]] == ["city-programme"]
    trend = scenario.value("cashless_adoption_trend_per_day", channel=channel, segment=segment)
    assert stall["annotations"]["summary"] == (
        f"Cashless adoption has stalled below the goal in {channel} {segment}"
    )
    description = stall["annotations"]["description"]
    assert "below the goal of 50%" in description, description
    assert f"its 30-day trend is {100 * trend:+.3f} percentage points a day" in description

    # Both below the goal; the stalled market's CashlessBelowGoal is inhibited by its stall.
    expected = {s: "suppressed" if s == STALLED else "active" for s in scenario.below_goal}

    def below_goal() -> dict[Segment, str]:
        return _states(_alertmanager_alerts(alertmanager, run_id), "CashlessBelowGoal")

    assert _eventually(below_goal, expected, timeout=60) == expected


# -- the report draws the same picture -------------------------------------------------------------


def _labelled(name: str, **labels: str) -> Series:
    return name, tuple(sorted(labels.items()))


def _expected_days(share: float, trend: float | None, goal: float) -> float | str:
    """What the projection must say, from the ground truth alone."""
    if share >= goal:
        return "reached"
    if trend is None:
        return "no_trend"
    if trend <= 0:
        return "not_at_trend"
    return (goal - share) / trend


def _check_projection(where: str, got: dict[str, Any], expected: float | str, base: float) -> None:
    if isinstance(expected, str):
        assert got["status"] == expected, f"{where}: {got} != {expected}"
        return
    assert got["status"] == "projected", f"{where}: {got}"
    assert abs(got["days"] - expected) < 1e-6, f"{where}: {got['days']} != {expected}"
    day = datetime.fromtimestamp(base + 86_400 * expected, HANOI).date().isoformat()
    assert got["date"] == day, f"{where}: {got['date']} != {day}"


def test_the_report_equals_the_ground_truth_and_lists_the_alerts_alertmanager_holds(
    running_stack: RunningStack,
    scenario: Scenario,
    alerting_prometheus: tuple[str, str],
    tmp_path: Path,
) -> None:
    _, run_id = alerting_prometheus
    alertmanager = running_stack.alertmanager_url
    stall = _eventually(
        lambda: _states(_alertmanager_alerts(alertmanager, run_id), "CashlessAdoptionStalled"),
        {STALLED: "active"},
        timeout=90,
    )
    assert stall == {STALLED: "active"}, "the stall alert is held by Alertmanager"
    out = tmp_path / "report"
    env = _environment(running_stack, scenario.data)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "cli", "report", "--out", str(out)),
            *("--prometheus-url", running_stack.prometheus_url),
            *("--alertmanager-url", alertmanager, "--format", "html,png,pdf,json"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # what Alertmanager's own page lists by default: active, neither silenced nor inhibited
    shown = {"active": "true", "silenced": "false", "inhibited": "false"}
    held = httpx.get(f"{alertmanager}/api/v2/alerts", params=shown, timeout=10).json()
    report = json.loads((out / "report.json").read_text("utf-8"))
    for name in ("index.html", "report.pdf", "headline.png", "segments.png", "alerts.png"):
        assert (out / name).stat().st_size > 1000, name

    truth = scenario.truth
    figures: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {
        (f["section"], f["name"], tuple(sorted(f["labels"].items()))): f["value"]
        for f in report["figures"]
    }

    def figure(section: str, name: str, **labels: str) -> Any:
        return figures.get((section, name, tuple(sorted(labels.items()))))

    def near(got: Any, want: float, where: str) -> None:
        assert got is not None, f"{where}: absent, want {want}"
        assert abs(got - want) < 1e-9, f"{where}: {got} != {want}"

    # the headline
    city = truth[_labelled("cashless_city_noncash_ratio", window="30d")]
    near(figure("headline", "city_noncash_share"), city, "city share")
    coverage = truth[_labelled("cashless_city_epayment_account_ratio")]
    near(figure("headline", "city_account_coverage"), coverage, "city coverage")
    goal = truth[_labelled("cashless_goal_ratio", goal="noncash")]
    near(figure("headline", "goal_noncash"), goal, "goal")
    stream_time = truth[_labelled("cashless_stream_time_seconds")]
    city_trend = truth.get(_labelled("cashless_city_adoption_trend_per_day"))
    _check_projection(
        "city",
        report["projections"]["city_noncash"],
        _expected_days(city, city_trend, goal),
        stream_time,
    )
    # every segment and district, and the suppressed ones absent
    segments = {
        (dict(labels)["channel"], dict(labels)["segment"]): value
        for (name, labels), value in truth.items()
        if name == "cashless_noncash_ratio" and dict(labels)["window"] == "30d"
    }
    reported = {
        (dict(labels)["channel"], dict(labels)["segment"]): value
        for (section, name, labels), value in figures.items()
        if (section, name) == ("segments", "noncash_share_30d")
    }
    assert reported.keys() == segments.keys()
    for (channel, segment), share in segments.items():
        near(reported[channel, segment], share, f"{channel}/{segment}")
        trend = truth.get(
            _labelled("cashless_adoption_trend_per_day", channel=channel, segment=segment)
        )
        if trend is not None:
            near(
                figure("segments", "trend_per_day", channel=channel, segment=segment),
                trend,
                segment,
            )
        _check_projection(
            f"{channel}/{segment}",
            report["projections"]["segments"][f"{channel}:{segment}"],
            _expected_days(share, trend, goal),
            stream_time,
        )
    districts = {
        dict(labels)["district"]: value
        for (name, labels), value in truth.items()
        if name == "cashless_district_noncash_ratio" and dict(labels)["window"] == "30d"
    }
    for district, share in districts.items():
        near(figure("districts", "noncash_share_30d", district=district), share, district)
        trend = truth.get(_labelled("cashless_district_adoption_trend_per_day", district=district))
        _check_projection(
            district,
            report["projections"]["districts"][district],
            _expected_days(share, trend, goal),
            stream_time,
        )
    for (name, labels), value in truth.items():
        if name == "cashless_epayment_account_ratio":
            near(figure("districts", "account_coverage", **dict(labels)), value, str(labels))
        if name == "cashless_events_rejected_total":
            near(figure("quality", "rejected", **dict(labels)), value, str(labels))
    near(
        figure("quality", "duplicates"), truth[_labelled("cashless_events_duplicate_total")], "dup"
    )
    near(figure("quality", "late"), truth[_labelled("cashless_events_late_total")], "late")
    districts_csv = (scenario.data / "districts.csv").read_text("utf-8").splitlines()[1:]
    every_district = {line.split(",")[0] for line in districts_csv if line}
    assert set(report["suppressed"]["districts"]) == every_district - set(districts)

    # the alerts are those Alertmanager holds
    def keyed(alerts: list[dict[str, Any]]) -> set[tuple[tuple[str, str], ...]]:
        return {tuple(sorted(a["labels"].items())) for a in alerts}

    assert keyed(report["alerts"]) == keyed(held)
    assert any(a["name"] == "CashlessAdoptionStalled" for a in report["alerts"])
