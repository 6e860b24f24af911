"""Dashboards as code: committed JSON is what the code builds, and every part of it is sound.

Sound means: valid by Grafana's own JSON schemas (shared/schemas/grafana, with the two known
mismatches relaxed), a plain-words description on every panel, the project's data source, the
right units, the goal as a threshold line, and PromQL that parses and names only metrics the
workers export. The PromQL of the goal arithmetic is also run by `promtool test rules` on
synthetic series, so the projection and stall logic is checked, not just parsed.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import promql_parser
import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft7Validator
from prometheus_client import CollectorRegistry
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from cashless.metrics import METRICS
from cashless.promql import (
    ACCOUNTS_GOAL,
    DEFAULT_GOAL,
    GOAL_REACHED,
    NO_TREND_YET,
    NONCASH_GOAL,
    NOT_AT_THIS_TREND,
    below_goal,
    projection,
    stalled,
    stalled_trend,
)
from cashless.taxonomy import load_taxonomy
from cli.main import cli
from dashboards.alerts import FOLDER_TITLE, FOLDER_UID, alert_rules
from dashboards.boards import all_boards
from dashboards.boards.segments import WINDOWS
from dashboards.panels import DATASOURCE_UID
from dashboards.queries import ALERT_RULES, all_expressions, substitute
from dashboards.render import (
    GENERATED_DIR,
    PACKAGE_DIR,
    PROVISIONED_DIR,
    dashboard_documents,
    differences,
    rendered_files,
)
from producers.gateway.metrics import GatewayMetrics
from streams.lag import LAG_METRIC

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT.parent / "shared" / "schemas" / "grafana"
RULES_DIR = ROOT / "ops" / "prometheus" / "rules"
PROMTOOL = shutil.which("promtool")

EXPECTED_UIDS = {
    "cashless-city-overview",
    "cashless-utilities",
    "cashless-markets-streets",
    "cashless-districts",
    "cashless-pipeline-health",
}
PANEL_SCHEMAS = ("stat", "gauge", "timeseries")
"""Panel types with their own schema file; bargauge and table are checked by the dashboard
schema and, for the bar gauge, its reduce options by the gauge's."""
SCRAPE_LABELS = {"instance", "job"}
LABEL_VALUES = {
    "window": set(WINDOWS),
    "goal": {"noncash", "epayment_accounts"},
    "channel": {"utility", "market", "street"},
    "job": {"cashless-worker"},
}


# -- helpers ---------------------------------------------------------------------------------


def documents() -> dict[str, dict[str, Any]]:
    return dashboard_documents()


def panels() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every panel that runs queries (not rows, not alert lists)."""
    for uid, document in documents().items():
        for panel in document["panels"]:
            if panel["type"] not in ("row", "alertlist"):
                yield uid, panel


def recording_rules() -> set[str]:
    names: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.yml")):
        loaded = yaml.safe_load(path.read_text("utf-8")) or {}
        for group in loaded.get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return names


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text("utf-8"))
    return loaded


def _uri(name: str) -> str:
    return f"urn:grafana-schema:{name}.jsonschema.json"


def _relaxed_dashboard_schema() -> dict[str, Any]:
    """Grafana's dashboard schema with its known generator mismatches fixed.

    - `Threshold.value` is `number`, but Grafana writes `null` for the base step (-Infinity);
      SOURCE.md beside the schemas says so.
    - `DynamicConfigValue.value` and `MatcherConfig.options` are `object`, but Grafana's CUE
      says `_` (any JSON value): an override sets `"unit": "percentunit"`, a by-name matcher
      has the field name as its options.
    """
    schema = copy.deepcopy(_schema("dashboard"))
    definitions = schema["definitions"]
    threshold_value = definitions["Threshold"]["properties"]["value"]
    assert threshold_value["type"] == "number"
    threshold_value["type"] = ["number", "null"]
    for definition, prop in (("DynamicConfigValue", "value"), ("MatcherConfig", "options")):
        declared = definitions[definition]["properties"][prop]
        assert declared["type"] == "object"
        definitions[definition]["properties"][prop] = {"description": "any JSON value"}
    return schema


def validator(name: str, definition: str | None = None) -> Draft7Validator:
    """A draft-7 validator for a schema file (or one of its definitions), refs resolved
    locally among the files of shared/schemas/grafana; nothing is fetched."""
    resources = []
    for path in sorted(SCHEMAS.glob("*.jsonschema.json")):
        file_name = path.name.removesuffix(".jsonschema.json")
        contents = _relaxed_dashboard_schema() if file_name == "dashboard" else _schema(file_name)
        resources.append((_uri(file_name), Resource.from_contents(contents, DRAFT7)))
    registry: Registry[Any] = Registry().with_resources(resources)
    fragment = f"#/definitions/{definition}" if definition else ""
    return Draft7Validator({"$ref": _uri(name) + fragment}, registry=registry)


def errors(validator_: Draft7Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator_.iter_errors(instance)
    ]


needs_schemas = pytest.mark.skipif(
    not SCHEMAS.is_dir(), reason="shared/schemas/grafana not beside the checkout"
)


# -- the committed files ---------------------------------------------------------------------


def test_committed_files_are_what_the_code_builds() -> None:
    problems = differences(PACKAGE_DIR)
    assert not problems, "run `cashless dashboards build`:\n" + "\n".join(problems)


def test_build_is_deterministic_and_uids_are_fixed() -> None:
    assert rendered_files() == rendered_files()
    assert set(documents()) == EXPECTED_UIDS
    for uid, document in documents().items():
        assert document["uid"] == uid
        assert 8 <= len(uid) <= 40
    files = rendered_files()
    for uid in EXPECTED_UIDS:
        text = files[GENERATED_DIR / f"{uid}.json"]
        assert files[PROVISIONED_DIR / f"{uid}.json"] == text
        assert json.loads(text)["uid"] == uid


# -- Grafana's schemas -----------------------------------------------------------------------


@needs_schemas
@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_dashboard_validates_against_grafana_schema(uid: str) -> None:
    assert errors(validator("dashboard"), documents()[uid]) == []


@needs_schemas
def test_schema_validation_catches_mistakes() -> None:
    """The validators are not vacuous: typical mistakes in a dashboard are reported."""
    document = documents()["cashless-city-overview"]
    stat_panel = next(p for p in document["panels"] if p["type"] == "stat")
    mistakes: list[tuple[str, Any]] = []

    def mutated(change: Any) -> dict[str, Any]:
        broken = copy.deepcopy(document)
        change(next(p for p in broken["panels"] if p["id"] == stat_panel["id"]))
        return broken

    mistakes.append(("grid", mutated(lambda p: p["gridPos"].update(w=30))))
    mistakes.append(
        (
            "threshold",
            mutated(
                lambda p: p["fieldConfig"]["defaults"]["thresholds"]["steps"].append(
                    {"value": "half", "color": "green"}
                )
            ),
        )
    )
    mistakes.append(("unknown key", mutated(lambda p: p.update(descripton="typo"))))
    for what, broken in mistakes:
        assert errors(validator("dashboard"), broken), what
    options = copy.deepcopy(stat_panel["options"])
    options["graphMode"] = "sparkline"
    assert errors(validator("stat", "Options"), options)
    target = {k: v for k, v in stat_panel["targets"][0].items() if k != "refId"}
    assert errors(validator("prometheus"), target)


@needs_schemas
def test_panel_options_and_field_config_validate_against_their_schemas() -> None:
    checked = {name: 0 for name in PANEL_SCHEMAS}
    for uid, panel in panels():
        where = f"{uid} / {panel['title']}"
        kind = panel["type"]
        assert kind in (*PANEL_SCHEMAS, "bargauge", "table"), where
        assert "options" in panel, where
        if kind in PANEL_SCHEMAS:
            assert errors(validator(kind, "Options"), panel["options"]) == [], where
            checked[kind] += 1
        if kind == "timeseries":
            custom = panel["fieldConfig"]["defaults"]["custom"]
            assert errors(validator("timeseries", "FieldConfig"), custom) == [], where
        if kind == "bargauge":
            reduce = panel["options"]["reduceOptions"]
            assert errors(validator("gauge", "ReduceDataOptions"), reduce) == [], where
    assert all(checked.values()), checked


@needs_schemas
def test_every_target_validates_against_the_prometheus_schema() -> None:
    prometheus = validator("prometheus")
    for uid, panel in panels():
        for target in panel["targets"]:
            assert errors(prometheus, target) == [], f"{uid} / {panel['title']}"


# -- what a person sees ----------------------------------------------------------------------


def test_every_panel_has_a_plain_words_description() -> None:
    for uid, panel in panels():
        description = panel.get("description", "")
        assert len(description.split()) >= 12, f"{uid} / {panel['title']}: {description!r}"
        assert description.rstrip().endswith("."), f"{uid} / {panel['title']}"
    for document in documents().values():
        assert document["description"]
        for variable in document.get("templating", {}).get("list", []):
            assert variable["description"], variable["name"]


def test_every_panel_and_target_uses_the_cashless_datasource() -> None:
    expected = {"type": "prometheus", "uid": DATASOURCE_UID}
    for uid, panel in panels():
        assert panel["datasource"] == expected, f"{uid} / {panel['title']}"
        assert panel["targets"], f"{uid} / {panel['title']}"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["datasource"] == expected
            assert target["expr"].strip(), f"{uid} / {panel['title']} {target['refId']}"
    for document in documents().values():
        for variable in document.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                assert variable["datasource"] == expected


def test_panel_titles_are_unique_and_panels_fit_the_grid() -> None:
    for uid, document in documents().items():
        titles = [p["title"] for p in document["panels"]]
        assert len(titles) == len(set(titles)), uid
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids)), uid
        cells: set[tuple[int, int]] = set()
        for panel in document["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (uid, panel["title"])
            for x in range(pos["x"], pos["x"] + pos["w"]):
                for y in range(pos["y"], pos["y"] + pos["h"]):
                    assert (x, y) not in cells, (uid, panel["title"], "overlaps")
                    cells.add((x, y))


def _returns_share(expr: str) -> bool:
    """True when the query is a share metric, perhaps sorted or reduced by max/min."""
    node = promql_parser.parse(_concrete(expr))
    while True:
        if isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        elif isinstance(node, promql_parser.Call) and node.func.name in ("sort", "sort_desc"):
            node = node.args[0]
        elif isinstance(node, promql_parser.AggregateExpr) and str(node.op) in ("max", "min"):
            node = node.expr
        elif isinstance(node, promql_parser.BinaryExpr) and isinstance(
            node.rhs, promql_parser.Call
        ):  # `share < scalar(goal)`: the share, filtered
            node = node.lhs
        else:
            break
    return (
        isinstance(node, promql_parser.VectorSelector)
        and str(node.name).endswith("_ratio")
        and node.name != "cashless_goal_ratio"
    )


def test_shares_are_percent_from_0_to_100_with_the_goal_as_threshold() -> None:
    shares = 0
    for uid, panel in panels():
        targets = [t for t in panel["targets"] if t.get("legendFormat") != "goal"]
        if panel["type"] == "table" or not any(_returns_share(t["expr"]) for t in targets):
            continue
        shares += 1
        where = f"{uid} / {panel['title']}"
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"] == "percentunit", where
        assert (defaults["min"], defaults["max"]) == (0, 1), where
        steps = defaults["thresholds"]["steps"]
        assert steps[0]["value"] is None, where
        assert steps[1] == {"value": DEFAULT_GOAL, "color": "green"}, where
        # the colours follow the live goal: "Config from query results" sets step 1
        # (`threshold1`) from the goal query, the one of the goal this panel's share is about
        goal = (
            ACCOUNTS_GOAL
            if any("epayment_account" in t["expr"] for t in targets)
            else (NONCASH_GOAL)
        )
        configs = [t for t in panel["transformations"] if t["id"] == "configFromData"]
        assert len(configs) == 1, where
        options = configs[0]["options"]
        source = next(t for t in panel["targets"] if t["refId"] == options["configRefId"])
        assert source["expr"] == goal, where
        assert source["instant"], where
        assert options["mappings"] == [
            {"fieldName": source["legendFormat"], "handlerKey": "threshold1"}
        ], where
        if panel["type"] == "timeseries":
            assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed", where
            lines = [t for t in panel["targets"] if t["legendFormat"] == "goal" and t["range"]]
            assert [t["expr"] for t in lines] == [goal], f"{where}: no goal line"
    assert shares >= 15, shares


def test_table_columns_have_units_and_the_projection_reads_as_words() -> None:
    for uid, panel in panels():
        if panel["type"] != "table":
            continue
        renamed = panel["transformations"][1]["options"]["renameByName"]
        keys = set(panel["transformations"][1]["options"]["indexByName"]) - set(renamed)
        overridden = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
        assert set(renamed.values()) == overridden - keys, f"{uid} / {panel['title']}"
        for target in panel["targets"]:
            assert target["instant"]
            assert target["format"] == "table"
    city = documents()["cashless-city-overview"]
    projection_panel = next(
        p for p in city["panels"] if p["title"] == "When each segment reaches the goal"
    )
    texts = set()
    for override in projection_panel["fieldConfig"]["overrides"]:
        for prop in override["properties"]:
            if prop["id"] == "mappings":
                texts |= {v["text"] for v in prop["value"][0]["options"].values()}
    assert texts == {"goal reached", "not at this trend", "no trend yet"}


def test_districts_are_shown_by_the_names_the_taxonomy_writes() -> None:
    names = {d.slug: d.name for d in load_taxonomy().districts.values()}
    assert names["hoan-kiem"] == "Hoàn Kiếm"
    shown = 0
    for uid, panel in panels():
        where = f"{uid} / {panel['title']}"
        overrides = {
            o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
            for o in panel["fieldConfig"]["overrides"]
        }
        if any(t.get("legendFormat") == "{{district}}" for t in panel["targets"]):
            shown += 1
            display = {slug: overrides.get(slug, {}).get("displayName") for slug in names}
            assert display == names, where
        if panel["type"] == "table" and "district" in json.dumps(panel["transformations"]):
            shown += 1
            mapped = overrides["district"]["mappings"][0]["options"]
            assert {slug: m["text"] for slug, m in mapped.items()} == names, where
    assert shown >= 6, shown


# -- the PromQL ------------------------------------------------------------------------------


def _concrete(expr: str) -> str:
    return substitute(
        expr,
        {
            "__rate_interval": "5m",
            "segment": ".*",
            "district": ".*",
            "channel": "market|street",
            "window": "30d",
        },
    )


def _operational_metrics() -> set[str]:
    """What the worker (consumer lag) and the gateway export besides contract 2, by the names
    Prometheus stores (counters with `_total`, histograms with `_bucket`, …)."""
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    return names | {LAG_METRIC}


def test_every_metric_in_every_query_is_exported_with_those_labels() -> None:
    known = set(METRICS) | {"up"} | recording_rules() | _operational_metrics()
    seen: set[str] = set()
    for expression in all_expressions():
        for selector in selectors(expression.expr):
            where = f"{expression.dashboard} / {expression.panel}: {selector}"
            assert selector.name in known, where
            seen.add(selector.name)
            labels = set(METRICS[selector.name][2]) if selector.name in METRICS else set()
            for matcher in selector.matchers.matchers:
                if selector.name in METRICS:
                    assert matcher.name in labels | SCRAPE_LABELS, where
                allowed = LABEL_VALUES.get(matcher.name)
                if allowed and str(matcher.op) == "MatchOp.Equal":
                    assert matcher.value in allowed, where
    # the dashboards show every number the workers export
    assert set(METRICS) <= seen, set(METRICS) - seen


def test_template_variables_query_exported_labels() -> None:
    for document in documents().values():
        for variable in document.get("templating", {}).get("list", []):
            if variable["type"] != "query":
                continue
            query = variable["query"]
            assert query.startswith("label_values(")
            assert query.endswith(")")
            selector_text, label = query[len("label_values(") : -1].rsplit(",", 1)
            (selector,) = selectors(_concrete(selector_text))
            assert label.strip() in METRICS[str(selector.name)][2]


def test_all_expressions_lists_every_query_with_variables_filled_in() -> None:
    expressions = all_expressions(rate_interval="2m")
    targets = sum(len(panel["targets"]) for _, panel in panels())
    rule_queries = sum(1 for rule in alert_rules() for q in rule["data"] if "expr" in q["model"])
    assert len(expressions) == targets + rule_queries
    titles = {document["title"] for document in documents().values()} | {ALERT_RULES}
    assert {e.dashboard for e in expressions} == titles
    for expression in expressions:
        assert "$" not in expression.expr, expression
        assert "[[" not in expression.expr, expression
        promql_parser.parse(expression.expr)
    assert any("[2m]" in e.expr for e in expressions)
    assert any('segment=~".*"' in e.expr for e in expressions)
    assert any('window="30d"' in e.expr for e in expressions)
    flags = {e.should_have_data for e in expressions}
    assert flags == {True, False}
    empty_ok = {(e.dashboard, e.panel) for e in expressions if not e.should_have_data}
    assert ("Cashless Monitor — City overview", "Stalled segments") in empty_ok
    assert ("Cashless Monitor — City overview", "Workers up") not in empty_ok


def test_substitute_refuses_unknown_variables() -> None:
    assert substitute('x{a=~"$a", b="${b}"}[[[c]]]', {"a": "1", "b": "2", "c": "3"}) == (
        'x{a=~"1", b="2"}[3]'
    )
    with pytest.raises(KeyError, match=r"\$nope"):
        substitute("rate(x[$nope])", {})


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_every_expression_parses_with_prometheus_own_parser(tmp_path: Path) -> None:
    rules = [
        {"record": f"cashless_check_{index}", "expr": expression.expr}
        for index, expression in enumerate(all_expressions())
    ]
    path = tmp_path / "check.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}), "utf-8")
    result = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- what the goal arithmetic computes (promtool test rules on synthetic series) --------------

_STREAM_TIME = 1_700_000_000
_SERIES = {
    # segment: (30-day share, trend per day or None); goal 0.5
    "water": (0.3, 0.002),  # rising: reaches 0.5 in (0.5 - 0.3) / 0.002 = 100 days
    "tuition": (0.4, 0.0),  # flat: stalled, not at this trend
    "electricity": (0.45, -0.01),  # falling: stalled, not at this trend
    "hospital": (0.6, 0.01),  # above the goal
    "tax": (0.2, None),  # no trend yet (fewer than two full days)
    "telecom": (0.25, 2**-12),  # rising too slowly (< 0.0003): stalled, but has a date
}


def _input_series() -> list[dict[str, str]]:
    series = [
        {
            "series": 'cashless_goal_ratio{goal="noncash",instance="w0",job="cashless-worker"}',
            "values": "0.5x3",
        },
        {
            "series": 'cashless_stream_time_seconds{instance="w0",job="cashless-worker"}',
            "values": f"{_STREAM_TIME}x3",
        },
    ]
    for segment, (share, trend) in _SERIES.items():
        labels = f'channel="utility",segment="{segment}",instance="w1",job="cashless-worker"'
        series.append(
            {"series": f'cashless_noncash_ratio{{{labels},window="30d"}}', "values": f"{share}x3"}
        )
        series.append(
            {"series": f'cashless_noncash_ratio{{{labels},window="1d"}}', "values": "0.99x3"}
        )
        if trend is not None:
            series.append(
                {"series": f"cashless_adoption_trend_per_day{{{labels}}}", "values": f"{trend}x3"}
            )
    return series


def _samples(values: dict[str, float]) -> list[dict[str, Any]]:
    return [
        {"labels": f'{{channel="utility", segment="{segment}"}}', "value": value}
        for segment, value in sorted(values.items())
    ]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_goal_arithmetic_on_synthetic_series(tmp_path: Path) -> None:
    days = {
        "water": 100.0,
        "tuition": NOT_AT_THIS_TREND,
        "electricity": NOT_AT_THIS_TREND,
        "hospital": GOAL_REACHED,
        "tax": NO_TREND_YET,
        "telecom": 1024.0,  # 0.25 / 2**-12, exact in binary
    }
    dates = {
        segment: (_STREAM_TIME + 86400 * value) * 1000 if value > 0 else value
        for segment, value in days.items()
    }
    below = {s: share for s, (share, _) in _SERIES.items() if share < 0.5}
    stalled_shares = {s: _SERIES[s][0] for s in ("tuition", "electricity", "telecom")}
    stalled_trends = {s: _SERIES[s][1] for s in ("tuition", "electricity", "telecom")}
    below_samples = [
        {
            "labels": f'{{__name__="cashless_noncash_ratio", channel="utility", segment="{s}", '
            f'instance="w1", job="cashless-worker", window="30d"}}',
            "value": v,
        }
        for s, v in sorted(below.items())
    ]
    tests = [
        (projection(as_date=False), _samples(days)),
        (projection(as_date=True), _samples(dates)),
        (stalled(), _samples(stalled_shares)),
        (stalled_trend(), _samples({k: v for k, v in stalled_trends.items() if v is not None})),
        (below_goal(), below_samples),
        (f"count({stalled()}) or vector(0)", [{"labels": "{}", "value": 3}]),
        (alert_rules()[0]["data"][0]["model"]["expr"], _samples(dict.fromkeys(stalled_shares, 1))),
    ]
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _input_series(),
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "1m", "exp_samples": samples}
                    for expr, samples in tests
                ],
            }
        ],
    }
    path = tmp_path / "goal_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    result = subprocess.run(
        [str(PROMTOOL), "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- alert rules and provisioning -------------------------------------------------------------


def test_alert_rules_are_complete_provisioning_bodies() -> None:
    rules = alert_rules()
    assert rules
    uids = [rule["uid"] for rule in rules]
    assert len(uids) == len(set(uids))
    for rule in rules:
        assert rule["folderUID"] == FOLDER_UID
        assert rule["ruleGroup"]
        assert rule["title"]
        assert rule["for"]
        assert rule["noDataState"] in ("OK", "NoData", "Alerting")
        assert rule["execErrState"] in ("OK", "Error", "Alerting")
        ref_ids = {query["refId"] for query in rule["data"]}
        assert rule["condition"] in ref_ids
        for query in rule["data"]:
            assert query["datasourceUid"] in (DATASOURCE_UID, "__expr__")
            assert query["model"]["refId"] == query["refId"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert rule["annotations"]["__dashboardUid__"] in EXPECTED_UIDS
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        sections = re.findall(r"^## (.+)$", (ROOT / path).read_text("utf-8"), flags=re.MULTILINE)
        assert anchor in {section.lower() for section in sections}, rule["title"]


def test_alert_lists_show_the_alerts_of_their_board_from_every_rule_source() -> None:
    prometheus_areas = {
        rule["labels"]["area"]
        for path in sorted(RULES_DIR.glob("*.yml"))
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    grafana_areas = {rule["labels"]["area"] for rule in alert_rules()}
    shown = {}
    for uid, document in documents().items():
        for panel in document["panels"]:
            if panel["type"] != "alertlist":
                continue
            options = panel["options"]
            assert panel["description"].strip(), panel["title"]
            assert options["stateFilter"]["firing"], panel["title"]
            assert not options["stateFilter"]["normal"], panel["title"]
            assert not options["dashboardAlerts"], "Prometheus rules belong to no dashboard"
            area = re.fullmatch(r'\{area="(\w+)"\}', options["alertInstanceLabelFilter"])
            assert area, panel["title"]
            shown[uid] = area.group(1)
    assert shown == {"cashless-city-overview": "adoption", "cashless-pipeline-health": "pipeline"}
    assert set(shown.values()) == prometheus_areas
    assert grafana_areas <= prometheus_areas


def test_compose_grafana_loads_the_generated_dashboards_into_the_folder() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = source
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    assert provisioning.resolve() == (PACKAGE_DIR / "provisioning").resolve()

    provider_file = provisioning / "dashboards" / "cashless.yml"
    config = yaml.safe_load(provider_file.read_text("utf-8"))
    (provider,) = config["providers"]
    assert provider["folder"] == FOLDER_TITLE
    assert provider["folderUid"] == FOLDER_UID
    assert provider["type"] == "file"
    container_path = provider["options"]["path"]
    assert container_path.startswith("/etc/grafana/provisioning/")
    local = provisioning / container_path.removeprefix("/etc/grafana/provisioning/")
    assert local.resolve() == (PACKAGE_DIR / PROVISIONED_DIR).resolve()
    assert {p.stem for p in local.glob("*.json")} == EXPECTED_UIDS

    datasources = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yml").read_text("utf-8")
    )
    assert DATASOURCE_UID in {ds["uid"] for ds in datasources["datasources"]}


def test_boards_are_built_afresh_each_time() -> None:
    first, second = all_boards(), all_boards()
    assert [b.to_json() for b in first] == [b.to_json() for b in second]
    assert first[0] is not second[0]


def test_cli_build_writes_checks_and_removes_stale_files(tmp_path: Path) -> None:
    runner = CliRunner()
    stale = runner.invoke(cli, ["dashboards", "build", "--check", "--out", str(tmp_path)])
    assert stale.exit_code == 1
    assert "missing" in stale.stderr

    (tmp_path / GENERATED_DIR).mkdir(parents=True)
    (tmp_path / GENERATED_DIR / "old-dashboard.json").write_text("{}", "utf-8")
    built = runner.invoke(cli, ["dashboards", "build", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    assert not (tmp_path / GENERATED_DIR / "old-dashboard.json").exists()
    assert set(rendered_files()) == {
        PurePosixPath(p.relative_to(tmp_path).as_posix()) for p in tmp_path.rglob("*.json")
    }

    fresh = runner.invoke(cli, ["dashboards", "build", "--check", "--out", str(tmp_path)])
    assert fresh.exit_code == 0, fresh.output
    again = runner.invoke(cli, ["dashboards", "build", "--out", str(tmp_path)])
    assert "0 file(s) changed" in again.stdout
