"""Every PromQL expression of every panel and alert rule, ready to run against a Prometheus.

Grafana fills in template variables and `$__rate_interval` before it sends a query; outside
Grafana, `all_expressions` does the same with the value each variable starts with (its
default, or its "All" value — `.*` for label variables), so an integration test can execute
each expression against a real Prometheus that scraped a real worker.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from dashboards.alerts import alert_rules
from dashboards.boards import all_boards

__all__ = ["ALERT_RULES", "Expression", "all_expressions", "substitute"]

ALERT_RULES = "Grafana alert rules"
"""The `dashboard` of the expressions that come from alert rules rather than panels."""

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")


class Expression(NamedTuple):
    """One query: where it is shown, its PromQL, and whether it must return series."""

    dashboard: str
    panel: str
    expr: str
    should_have_data: bool
    """False when no series is a normal answer (e.g. no segment is stalled)."""


def _variable_values(dashboard: dict[str, Any], rate_interval: str) -> dict[str, str]:
    values = {"__rate_interval": rate_interval, "__interval": rate_interval}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value")
        selected = current if isinstance(current, list) else [current]
        if "$__all" in selected:
            values[variable["name"]] = variable["allValue"]
        else:
            values[variable["name"]] = "|".join(str(v) for v in selected)
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    """`expr` with `$name`, `${name}` and `[[name]]` replaced; unknown variables raise."""

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def all_expressions(rate_interval: str = "1m") -> list[Expression]:
    """Every panel's and alert rule's PromQL, template variables filled in, in display order.

    `rate_interval` stands for Grafana's `$__rate_interval`: at least four scrape intervals.
    """
    expressions: list[Expression] = []
    for board in all_boards():
        document = board.to_json()
        values = _variable_values(document, rate_interval)
        for panel in document["panels"]:
            for target in panel.get("targets", []):
                may_be_empty = board.may_be_empty[(panel["title"], target["refId"])]
                expressions.append(
                    Expression(
                        dashboard=document["title"],
                        panel=panel["title"],
                        expr=substitute(target["expr"], values),
                        should_have_data=not may_be_empty,
                    )
                )
    for rule in alert_rules():
        for query in rule["data"]:
            if "expr" in query["model"]:
                expressions.append(
                    Expression(ALERT_RULES, rule["title"], query["model"]["expr"], False)
                )
    return expressions
