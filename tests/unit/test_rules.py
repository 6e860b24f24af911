"""Prometheus rules: promtool's checks and unit tests, and the rules' agreement with contract 2."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from cashless.eventtime import WINDOWS
from cashless.metrics import METRICS as WORKER_METRICS
from producers.gateway.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
TESTS_DIR = ROOT / "ops" / "prometheus" / "tests"
PROMETHEUS_YML = ROOT / "ops" / "prometheus" / "prometheus.yml"

# Metric names that recording rules derive rather than take from contract 2 (stream time
# minus a source's newest event time).
DERIVED_METRICS = {"cashless_last_event_lag_seconds"}


def _gateway_metrics() -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """The gateway's exported names, as contract 2 lists the workers': read from its container."""
    found: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for metric in vars(GatewayMetrics(CollectorRegistry())).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        kind, name, labels = str(metric._type), metric._name, tuple(metric._labelnames)
        if kind == "counter":
            found[f"{name}_total"] = (kind, metric._documentation, labels)
        elif kind == "histogram":
            for suffix, extra in (("_bucket", ("le",)), ("_sum", ()), ("_count", ())):
                found[name + suffix] = (kind, metric._documentation, labels + extra)
        else:
            found[name] = (kind, metric._documentation, labels)
    return found


# Every name Prometheus scrapes from the project: the workers' contract 2, the gateway's own, and
# the workers' consumer lag (its name and labels agreed in issue 17 for the workers to export).
METRICS = {
    **_gateway_metrics(),
    "cashless_consumer_lag_records": (
        "gauge",
        "Records not yet consumed, per topic and partition.",
        ("topic", "partition"),
    ),
    **WORKER_METRICS,
}
# The values of `goal` (contract 2: "the targets (noncash, epayment_accounts)").
GOALS = {"noncash", "epayment_accounts"}
# Labels every scraped series carries besides its own.
TARGET_LABELS = {"job", "instance"}
SEVERITIES = {"critical", "warning", "info"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'[^\']*\')')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_TEMPLATE_QUERY = re.compile(r'\b(?:query|printf)\s+"((?:[^"\\]|\\.)*)"')
# level:metric:operations, or level:metric for a derived metric with no operation of its own.
_RECORD_NAME = re.compile(r"^([a-z_]+):([a-z0-9_]+)(?::([a-z0-9_]+))?$")


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def promtool_test_files() -> list[Path]:
    return sorted(TESTS_DIR.glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return loaded


def groups() -> list[dict[str, Any]]:
    return [group for path in rule_files() for group in load(path)["groups"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for group in groups() for rule in group["rules"] if "alert" in rule]


def alert_names() -> list[str]:
    return sorted({rule["alert"] for rule in alerts()})


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is installed with the Debian prometheus package"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, check=False, timeout=120
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


# -- promtool ------------------------------------------------------------------------------------


def test_promtool_check_rules_is_clean() -> None:
    assert rule_files(), f"no rule files in {RULES_DIR}"
    result = promtool("check", "rules", *rule_files())
    assert result.returncode == 0, _output(result)
    assert "WARNING" not in result.stdout + result.stderr, _output(result)


def test_promtool_unit_tests_pass() -> None:
    assert promtool_test_files(), f"no promtool unit tests in {TESTS_DIR}"
    result = promtool("test", "rules", *promtool_test_files())
    assert result.returncode == 0, _output(result)


def _alert_cases() -> Iterator[tuple[str, bool]]:
    for path in promtool_test_files():
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                yield check["alertname"], bool(check.get("exp_alerts"))


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_a_case_that_fires_and_one_that_must_not(name: str) -> None:
    outcomes = {fires for alertname, fires in _alert_cases() if alertname == name}
    assert outcomes == {True, False}, f"{name}: promtool cases that fire and stay quiet"


def _copy_with(tmp_path: Path, pattern: str, replacement: str) -> Path:
    """The rules and their promtool tests under `tmp_path`, with `pattern` replaced once."""
    (tmp_path / "rules").mkdir()
    for path in rule_files():
        text = path.read_text("utf-8")
        if path.name == "cashless.yml":
            text, count = re.subn(pattern, replacement, text, count=1)
            assert count == 1, f"mutation target {pattern!r} not found"
        (tmp_path / "rules" / path.name).write_text(text, "utf-8")
    shutil.copytree(TESTS_DIR, tmp_path / "tests")
    return tmp_path


# Each mutation is a plausible mistake that some promtool case must catch: (regex, replacement).
MUTATIONS = {
    "stall threshold 10x looser (rising markets would stall)": (
        r"(segment:cashless_adoption_trend_per_day:max < )0\.0003",
        r"\g<1>0.003",
    ),
    "below-goal condition dropped (saturated electricity would stall)": (
        r'(segment:cashless_noncash_ratio:max\{window="30d"\})\s*<\s*on \(\) group_left \(\)\s*'
        r'max\(last_over_time\(cashless_goal_ratio\{goal="noncash"\}\[5m\]\)\)(\s*and on)',
        r"\1\2",
    ),
    "instance kept (a rebalance would restart the for: clock)": (
        r"max without \(instance\) \((last_over_time\(cashless_noncash_ratio\[5m\]\))\)",
        r"\1",
    ),
    "stale markers followed (a missed scrape would restart the for: clock)": (
        r"last_over_time\((cashless_noncash_ratio)\[5m\]\)",
        r"\1",
    ),
    "silence by the wall clock instead of stream time": (
        r"job:cashless_stream_time_seconds:max\s*- on \(job\) group_right \(\)",
        "time() -",
    ),
    "missing counters hide the share (all rejected would not fire)": (
        r"\(\s*(sum without \(instance, channel, segment, method\) "
        r"\(rate\(cashless_payments_total\[10m\]\)\))\s*or [^)]*\* 0\s*\)",
        r"\1",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path, mutation: str) -> None:
    copy = _copy_with(tmp_path, *MUTATIONS[mutation])
    check = promtool("check", "rules", *sorted((copy / "rules").glob("*.yml")))
    assert check.returncode == 0, _output(check)
    result = promtool("test", "rules", *sorted((copy / "tests").glob("*.yml")))
    assert result.returncode != 0, f"no promtool case noticed: {mutation}"


# -- the shape of every alert --------------------------------------------------------------------


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_for_severity_and_plain_annotations(name: str) -> None:
    for rule in (r for r in alerts() if r["alert"] == name):
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: for:"
        labels = rule.get("labels", {})
        assert labels.get("severity") in SEVERITIES, f"{name}: severity"
        assert labels.get("area") in {"pipeline", "adoption"}, f"{name}: area (used by routing)"
        annotations = rule.get("annotations", {})
        assert len(annotations.get("summary", "")) >= 20, f"{name}: summary"
        assert len(annotations.get("description", "")) >= 100, f"{name}: description"


RUNBOOK = ROOT / "docs" / "RUNBOOK.md"
GRAFANA_BOARD = re.compile(r"^http://127\.0\.0\.1:3000/d/[a-z0-9{}$ .\"-]+$")


def runbook_anchors() -> set[str]:
    """GitHub's anchors for the `##` headings of docs/RUNBOOK.md: lower case, spaces to dashes."""
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text("utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_links_its_runbook_section_and_dashboard(name: str) -> None:
    for rule in (r for r in alerts() if r["alert"] == name):
        annotations = rule.get("annotations", {})
        path, _, anchor = str(annotations.get("runbook_url", "")).partition("#")
        assert path == "docs/RUNBOOK.md", f"{name}: runbook_url"
        assert anchor in runbook_anchors(), f"{name}: no section #{anchor} in docs/RUNBOOK.md"
        assert GRAFANA_BOARD.match(str(annotations.get("dashboard_url", ""))), f"{name}: board"


def test_runbook_has_no_section_without_an_alert() -> None:
    assert runbook_anchors() == {name.lower() for name in alert_names()}


def test_alert_names_are_unique_and_prefixed() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    assert all(name.startswith("Cashless") for name in names)


# -- agreement with contract 2 -------------------------------------------------------------------


def record_names() -> set[str]:
    return {rule["record"] for group in groups() for rule in group["rules"] if "record" in rule}


def _promql(rule: dict[str, Any]) -> str:
    """The PromQL of a rule: its expression and the queries inside its annotation templates
    (`query "…"`, or `printf "…" … | query` with each `%q` standing for a quoted value)."""
    texts = [str(rule["expr"])]
    for template in rule.get("annotations", {}).values():
        for query in _TEMPLATE_QUERY.findall(str(template)):
            texts.append(query.replace('\\"', '"').replace("%q", '"x"'))
    return "\n".join(texts)


def unknown_names(rules: list[dict[str, Any]], recorded: set[str]) -> set[str]:
    """Metric names in `rules` that are neither in contract 2 nor recorded by a rule."""
    unknown = set()
    for rule in rules:
        for name in _NAME.findall(_STRING.sub("", _promql(rule))):
            if ":" in name:
                if name not in recorded:
                    unknown.add(name)
            elif name.startswith("cashless_") and name not in METRICS:
                unknown.add(name)
    return unknown


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in groups() for rule in group["rules"]]


def test_rules_read_only_contract_metrics_and_recorded_names() -> None:
    assert unknown_names(all_rules(), record_names()) == set()


def test_a_renamed_metric_is_noticed() -> None:
    renamed: list[dict[str, Any]] = [
        {"expr": "cashless_stream_seconds > 0"},
        {"expr": "x", "annotations": {"description": '{{ query "job:cashless_x:max" }}'}},
    ]
    assert unknown_names(renamed, record_names()) == {
        "cashless_stream_seconds",
        "job:cashless_x:max",
    }


def selector_problems(rules: list[dict[str, Any]]) -> list[str]:
    """Label names and values in the rules' selectors that contract 2 does not have."""
    problems = []
    every_label = TARGET_LABELS.union(*(labels for _, _, labels in METRICS.values()))
    jobs = {job["job_name"] for job in load(PROMETHEUS_YML)["scrape_configs"]}
    for rule in rules:
        promql = _promql(rule)
        for name, matchers in _SELECTOR.findall(promql):
            if name in METRICS:
                known = TARGET_LABELS | set(METRICS[name][2])
            elif name in record_names():
                known = every_label
            else:
                known = TARGET_LABELS
            for label, _, quoted in _MATCHER.findall(matchers):
                value = quoted[1:-1]
                if label not in known:
                    problems.append(f"{name}{{{label}}}: no such label")
                if label == "window" and value not in WINDOWS:
                    problems.append(f"{name}: window {value!r} is not one of {sorted(WINDOWS)}")
                if label == "goal" and value not in GOALS:
                    problems.append(f"{name}: goal {value!r} is not one of {sorted(GOALS)}")
                if label == "job" and value not in jobs:
                    problems.append(f"{name}: job {value!r} is not scraped by prometheus.yml")
        for listed in _GROUPING.findall(_STRING.sub("", promql)):
            for label in filter(None, (part.strip() for part in listed.split(","))):
                if label not in every_label:
                    problems.append(f"grouping by {label!r}: no metric has that label")
    return problems


def test_selectors_use_contract_labels_and_values() -> None:
    assert selector_problems(all_rules()) == []


def test_a_wrong_label_or_window_is_noticed() -> None:
    wrong: list[dict[str, Any]] = [
        {"expr": 'cashless_noncash_ratio{district="x", window="2d"}'},
        {"expr": 'sum by (segmnet) (cashless_payments_total{job="worker"})'},
    ]
    assert len(selector_problems(wrong)) == 4


def test_recording_rules_are_named_level_metric_operations() -> None:
    bases = {name.removesuffix("_total") for name in METRICS} | set(METRICS) | DERIVED_METRICS
    for name in record_names():
        match = _RECORD_NAME.match(name)
        assert match, f"{name} is not level:metric:operations"
        assert match.group(2) in bases, f"{name}: {match.group(2)} is not a contract 2 metric"


def test_every_recording_rule_feeds_a_later_rule_of_its_group() -> None:
    """Recorded only what alerts read, and before them in their group: rules in a group run in
    order, so the alert sees the recording of the same evaluation."""
    for group in groups():
        rules = group["rules"]
        for index, rule in enumerate(rules):
            if "record" not in rule:
                continue
            later = "\n".join(_promql(r) for r in rules[index + 1 :])
            assert re.search(rf"(?<![\w:]){re.escape(rule['record'])}(?![\w:])", later), (
                f"{rule['record']} is read by no later rule of group {group['name']}"
            )
