"""Grafana-managed alert rules, in the shape of Grafana's provisioning API (`/api/v1/provisioning`).

These are for a Grafana that should alert by itself; the Prometheus rules under
`ops/prometheus/rules/` go through Alertmanager. Each rule is written with
`grafana-foundation-sdk`'s alerting builders and published by `dashboards.publish`, which
creates or updates it by its uid.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from cashless.promql import STALL_TREND_PER_DAY, stalled
from dashboards.boards.city import city_overview
from dashboards.panels import DATASOURCE_UID

__all__ = ["FOLDER_TITLE", "FOLDER_UID", "RULE_GROUP", "RUNBOOK", "alert_rules"]

FOLDER_UID = "cashless-monitor"
FOLDER_TITLE = "Cashless Monitor"
RULE_GROUP = "cashless-adoption"
_EXPRESSIONS = "__expr__"
RUNBOOK = "docs/RUNBOOK.md"
"""Where on-call reads what to check and do: one section per alert, its name in lower case."""


def _panel_id(board: dict[str, Any], title: str) -> int:
    for panel in board["panels"]:
        if panel.get("title") == title:
            return int(panel["id"])
    raise LookupError(f"no panel {title!r} on dashboard {board['uid']!r}")


def _stalled_adoption() -> alerting.Rule:
    board = city_overview().to_json()
    query = (
        prometheus.Dataquery()
        .ref_id("A")
        .expr(f"count by (channel, segment) ({stalled()})")
        .instant()
        .datasource(dashboard_models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID))
    )
    threshold = (
        expr.TypeThreshold()
        .ref_id("C")
        .expression("A")
        .datasource(dashboard_models.DataSourceRef(type_val=_EXPRESSIONS, uid=_EXPRESSIONS))
        .conditions(
            [
                expr.ExprTypeThresholdConditions().evaluator(
                    expr.ExprTypeThresholdConditionsEvaluator().type("gt").params([0])
                )
            ]
        )
    )
    points = f"{STALL_TREND_PER_DAY * 100:g}"
    return (
        alerting.Rule("Cashless adoption stalled")
        .uid("cashless-adoption-stalled")
        .folder_uid(FOLDER_UID)
        .rule_group(RULE_GROUP)
        .org_id(1)
        .condition("C")
        .queries(
            [
                alerting.Query("A")
                .datasource_uid(DATASOURCE_UID)
                .relative_time_range(alerting_models.RelativeTimeRange(from_val=600, to=0))
                .model(query),
                alerting.Query("C").datasource_uid(_EXPRESSIONS).model(threshold),
            ]
        )
        .for_val("1h")
        .no_data_state("OK")
        .exec_err_state("Error")
        .is_paused(False)
        .labels({"severity": "warning", "area": "adoption", "service": "cashless-monitor"})
        .annotations(
            {
                "summary": "{{ $labels.channel }} / {{ $labels.segment }}: non-cash share "
                "below the goal and not rising",
                "description": "The 30-day non-cash share of {{ $labels.channel }} "
                "{{ $labels.segment }} is below the goal and grew by less than "
                f"{points} percentage point a day over the last 30 days of event time.",
                "runbook_url": f"{RUNBOOK}#cashlessadoptionstalled",
                "__dashboardUid__": str(board["uid"]),
                "__panelId__": str(_panel_id(board, "Stalled segments")),
            }
        )
    )


def alert_rules() -> list[dict[str, Any]]:
    """Every Grafana-managed rule, as the JSON body of the provisioning API."""
    rules = [_stalled_adoption()]
    result: list[dict[str, Any]] = json.loads(
        json.dumps([rule.build() for rule in rules], cls=JSONEncoder)
    )
    return result
