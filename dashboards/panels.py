"""The house style of the dashboards, on top of `grafana-foundation-sdk`.

A `Board` is a dashboard under construction: every panel it adds gets the project's data source,
a plain-words description (required), the right unit, and for shares the 0–100% range with the
goal as a threshold line. It also remembers, per query, whether an empty answer is normal (a
list of segments below the goal is empty when none is), for the tests that run every query.

(Over 400 lines on purpose: one method per panel kind, each a builder chain of the SDK's; they
share the board's layout and query bookkeeping, which is the point of the module.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import bargauge as bargauge_builders
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import gauge as gauge_builders
from grafana_foundation_sdk.builders import prometheus as prometheus_builders
from grafana_foundation_sdk.builders import stat as stat_builders
from grafana_foundation_sdk.builders import table as table_builders
from grafana_foundation_sdk.builders import timeseries as timeseries_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

from cashless.promql import DEFAULT_GOAL, NONCASH_GOAL

__all__ = [
    "DATASOURCE_UID",
    "Board",
    "Column",
    "Query",
]

DATASOURCE_UID = "cashless-prometheus"
_DATASOURCE = models.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
_REF_IDS = "ABCDEFGHIJ"

_RED, _GREEN = "red", "green"
GOAL_LEGEND = "goal"

_AnyPanel = (
    timeseries_builders.Panel
    | stat_builders.Panel
    | gauge_builders.Panel
    | bargauge_builders.Panel
    | table_builders.Panel
)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel, and how Grafana should run and label it."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False
    may_be_empty: bool = False
    """True when no series is a normal answer (e.g. no segment is stalled)."""


@dataclass(frozen=True)
class Column:
    """How a table shows the values of one query: header, unit and value mappings."""

    header: str
    unit: str
    mappings: Mapping[str, str] | None = None


def _steps(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


def _value_mappings(texts: Mapping[str, str]) -> list[models.ValueMapping]:
    return [
        models.ValueMap(
            options={
                value: models.ValueMappingResult(text=text, index=index)
                for index, (value, text) in enumerate(texts.items())
            }
        )
    ]


def _color(mode: models.FieldColorModeId) -> dashboard_builders.FieldColor:
    return dashboard_builders.FieldColor().mode(mode)


def _reduce_last() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _target(query: Query, ref_id: str) -> prometheus_builders.Dataquery:
    target = (
        prometheus_builders.Dataquery()
        .ref_id(ref_id)
        .expr(query.expr)
        .datasource(_DATASOURCE)
        .editor_mode(prometheus_models.QueryEditorMode.CODE)
    )
    if query.legend:
        target.legend_format(query.legend)
    if query.instant:
        target.instant()
    else:
        target.range()
    if query.table:
        target.format(prometheus_models.PromQueryFormat.TABLE)
    return target


class Board:
    """A dashboard being built: panels are laid out left to right, rows break the flow."""

    def __init__(self, uid: str, title: str, description: str, tags: Iterable[str]) -> None:
        if not 8 <= len(uid) <= 40:
            raise ValueError(f"dashboard uid {uid!r} must have 8 to 40 characters")
        self.uid = uid
        self.title = title
        self._builder = (
            dashboard_builders.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(sorted({"cashless", *tags}))
            .timezone("browser")
            .time("now-24h", "now")
            .refresh("30s")
            .tooltip(models.DashboardCursorSync.CROSSHAIR)
            .readonly()
        )
        self._next_id = 1
        self._titles: set[str] = set()
        self.may_be_empty: dict[tuple[str, str], bool] = {}
        """(panel title, refId) → whether no series is a normal answer for that query."""
        self._names: dict[str, Mapping[str, str]] = {}

    def show_names(self, label: str, names: Mapping[str, str]) -> None:
        """Show the values of `label` by these names (slug → name) on every later panel: as
        the series' display names where a query's legend is that label, as value mappings
        where a table has it as a column."""
        self._names[label] = dict(names)

    # -- template variables ----------------------------------------------------------------------

    def label_variable(self, name: str, label: str, query: str, description: str) -> None:
        """A multi-value variable from `label_values(...)`, "All" (regex `.*`) selected."""
        self._builder.with_variable(
            dashboard_builders.QueryVariable(name)
            .label(label)
            .description(description)
            .datasource(_DATASOURCE)
            .query(query)
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
        )

    def choice_variable(
        self, name: str, label: str, values: Sequence[str], default: str, description: str
    ) -> None:
        """A single-value variable over fixed values (the rolling windows, say)."""
        self._builder.with_variable(
            dashboard_builders.CustomVariable(name)
            .label(label)
            .description(description)
            .values(",".join(values))
            .multi(False)
            .include_all(False)
            .current(models.VariableOption(selected=True, text=default, value=default))
            .options(
                [
                    models.VariableOption(selected=value == default, text=value, value=value)
                    for value in values
                ]
            )
        )

    def options_variable(
        self, name: str, label: str, values: Sequence[str], description: str
    ) -> None:
        """A multi-value variable over fixed values, "All" (their alternation) selected."""
        self._builder.with_variable(
            dashboard_builders.CustomVariable(name)
            .label(label)
            .description(description)
            .values(",".join(values))
            .multi(True)
            .include_all(True)
            .all_value("|".join(values))
            .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
            .options(
                [models.VariableOption(selected=True, text="All", value="$__all")]
                + [models.VariableOption(selected=False, text=v, value=v) for v in values]
            )
        )

    # -- layout ----------------------------------------------------------------------------------

    def row(self, title: str) -> None:
        """Start a new row of panels under a heading."""
        self._builder.with_row(dashboard_builders.Row(title).id(self._take_id()))

    # -- panels ----------------------------------------------------------------------------------

    def timeseries(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        *,
        unit: str,
        ratio: bool = False,
        goal: str = NONCASH_GOAL,
        goal_line: bool = False,
        steps: Sequence[tuple[float | None, str]] | None = None,
        stack: bool = False,
        width: int = 12,
        height: int = 8,
    ) -> None:
        """A graph over time; with `ratio`, 0–100% coloured against `goal` (see `_follow_goal`).

        With `goal_line`, the `goal` series is drawn as a dashed green line next to the data.
        Threshold `steps` with more than one step are drawn as dashed lines.
        """
        targets = list(queries)
        if goal_line:
            targets.append(Query(goal, legend="goal"))
        panel = (
            timeseries_builders.Panel()
            .unit(unit)
            .color_scheme(_color(models.FieldColorModeId.PALETTE_CLASSIC))
            .line_width(2)
            .fill_opacity(0 if not stack else 40)
            .show_points(common.VisibilityMode.NEVER)
            .span_nulls(False)
            .legend(
                common_builders.VizLegendOptions()
                .show_legend(True)
                .display_mode(common.LegendDisplayMode.TABLE)
                .placement(common.LegendPlacement.RIGHT)
                .calcs(["lastNotNull"])
            )
            .tooltip(
                common_builders.VizTooltipOptions()
                .mode(common.TooltipDisplayMode.MULTI)
                .sort(common.SortOrder.DESCENDING)
            )
        )
        if ratio:
            panel.min(0).max(1)
        if steps is None:
            steps = [(None, _RED), (DEFAULT_GOAL, _GREEN)] if ratio else [(None, _GREEN)]
        panel.thresholds(_steps(*steps))
        if ratio:
            self._follow_goal(panel, goal, targets)
        if len(steps) > 1:
            panel.thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.DASHED
                )
            )
        if stack:
            panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        if goal_line:
            panel.override_by_name(
                "goal",
                [
                    models.DynamicConfigValue(
                        id_val="color", value={"mode": "fixed", "fixedColor": _GREEN}
                    ),
                    models.DynamicConfigValue(
                        id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                    ),
                ],
            )
        self._add(panel, title, description, targets, width, height)

    def stat(
        self,
        title: str,
        description: str,
        query: Query,
        *,
        unit: str,
        ratio: bool = False,
        goal: str = NONCASH_GOAL,
        steps: Sequence[tuple[float | None, str]] | None = None,
        graph: bool = True,
        mappings: Mapping[str, str] | None = None,
        width: int = 6,
        height: int = 6,
    ) -> None:
        """One big number (the last value), coloured by thresholds; ratios against `goal`."""
        panel = (
            stat_builders.Panel()
            .unit(unit)
            .color_scheme(_color(models.FieldColorModeId.THRESHOLDS))
            .graph_mode(common.BigValueGraphMode.AREA if graph else common.BigValueGraphMode.NONE)
            .color_mode(common.BigValueColorMode.VALUE)
            .justify_mode(common.BigValueJustifyMode.AUTO)
            .text_mode(common.BigValueTextMode.AUTO)
            .orientation(common.VizOrientation.AUTO)
            .reduce_options(_reduce_last())
        )
        queries = [query]
        self._single_value(panel, ratio, steps, mappings, goal, queries)
        self._add(panel, title, description, queries, width, height)

    def gauge(
        self,
        title: str,
        description: str,
        query: Query,
        *,
        goal: str = NONCASH_GOAL,
        width: int = 6,
        height: int = 6,
    ) -> None:
        """A 0–100% dial with a marker at `goal`."""
        panel = (
            gauge_builders.Panel()
            .unit("percentunit")
            .color_scheme(_color(models.FieldColorModeId.THRESHOLDS))
            .show_threshold_labels(False)
            .show_threshold_markers(True)
            .sizing(common.BarGaugeSizing.AUTO)
            .orientation(common.VizOrientation.AUTO)
            .reduce_options(_reduce_last())
        )
        queries = [query]
        self._single_value(panel, True, None, None, goal, queries)
        self._add(panel, title, description, queries, width, height)

    def bars(
        self,
        title: str,
        description: str,
        query: Query,
        *,
        unit: str,
        ratio: bool = False,
        goal: str = NONCASH_GOAL,
        steps: Sequence[tuple[float | None, str]] | None = None,
        width: int = 12,
        height: int = 10,
    ) -> None:
        """Horizontal bars, one per series in the order the query sorts them (a ranking)."""
        panel = (
            bargauge_builders.Panel()
            .unit(unit)
            .color_scheme(_color(models.FieldColorModeId.THRESHOLDS))
            .display_mode(common.BarGaugeDisplayMode.BASIC)
            .value_mode(common.BarGaugeValueMode.COLOR)
            .name_placement(common.BarGaugeNamePlacement.LEFT)
            .show_unfilled(True)
            .sizing(common.BarGaugeSizing.AUTO)
            .orientation(common.VizOrientation.HORIZONTAL)
            .reduce_options(_reduce_last())
        )
        queries = [query]
        self._single_value(panel, ratio, steps, None, goal, queries)
        self._add(panel, title, description, queries, width, height)

    def table(
        self,
        title: str,
        description: str,
        queries: Sequence[tuple[Query, Column]],
        *,
        keys: Sequence[str],
        sort_by: str | None = None,
        descending: bool = False,
        width: int = 12,
        height: int = 10,
    ) -> None:
        """Instant queries joined on their `keys` labels, one column per query."""
        panel = (
            table_builders.Panel()
            .show_header(True)
            .cell_height(common.TableCellHeight.SM)
            .color_scheme(_color(models.FieldColorModeId.THRESHOLDS))
            .thresholds(_steps((None, _GREEN)))
        )
        if sort_by is not None:
            panel.sort_by(
                [common_builders.TableSortByFieldState().display_name(sort_by).desc(descending)]
            )
        for key in keys:
            if key in self._names:
                panel.override_by_name(
                    key,
                    [
                        models.DynamicConfigValue(
                            id_val="mappings", value=_value_mappings(self._names[key])
                        )
                    ],
                )
        renames: dict[str, str] = {}
        order: dict[str, int] = {key: index for index, key in enumerate(keys)}
        for index, (_, column) in enumerate(queries):
            ref_id = _REF_IDS[index]
            renames[f"Value #{ref_id}"] = column.header
            order[f"Value #{ref_id}"] = len(keys) + index  # order comes before rename
            properties = [models.DynamicConfigValue(id_val="unit", value=column.unit)]
            if column.mappings:
                properties.append(
                    models.DynamicConfigValue(
                        id_val="mappings", value=_value_mappings(column.mappings)
                    )
                )
            panel.override_by_name(column.header, properties)
        panel.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
        panel.with_transformation(
            models.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "indexByName": order,
                    "renameByName": renames,
                },
            )
        )
        self._add(panel, title, description, [q for q, _ in queries], width, height)

    def alert_list(
        self, title: str, description: str, *, labels: str, width: int = 24, height: int = 8
    ) -> None:
        """The alerts firing or pending now whose labels match `labels` (a selector such as
        `{area="pipeline"}`): the Prometheus rules through the data source, and Grafana's own."""
        if not description.strip():
            raise ValueError(f"panel {title!r} needs a description")
        if title in self._titles:
            raise ValueError(f"two panels titled {title!r} on {self.title!r}")
        self._titles.add(title)
        panel = (
            dashboard_builders.Panel()
            .type("alertlist")
            .id(self._take_id())
            .title(title)
            .description(description)
            .span(width)
            .height(height)
            .options(
                {
                    "viewMode": "list",
                    "groupMode": "default",
                    "groupBy": [],
                    "maxItems": 20,
                    "sortOrder": 1,  # by importance: firing first
                    "dashboardAlerts": False,
                    "alertName": "",
                    "alertInstanceLabelFilter": labels,
                    "showInactiveAlerts": False,
                    "stateFilter": {
                        "firing": True,
                        "pending": True,
                        "recovering": True,
                        "error": True,
                        "noData": False,
                        "normal": False,
                    },
                }
            )
        )
        self._builder.with_panel(panel)

    # -- output ----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The dashboard as Grafana's JSON model (plain dicts and lists)."""
        result: dict[str, Any] = json.loads(json.dumps(self._builder.build(), cls=JSONEncoder))
        return result

    # -- internals -------------------------------------------------------------------------------

    def _take_id(self) -> int:
        panel_id = self._next_id
        self._next_id += 1
        return panel_id

    def _single_value(
        self,
        panel: stat_builders.Panel | gauge_builders.Panel | bargauge_builders.Panel,
        ratio: bool,
        steps: Sequence[tuple[float | None, str]] | None,
        mappings: Mapping[str, str] | None,
        goal: str,
        queries: list[Query],
    ) -> None:
        if ratio:
            panel.min(0).max(1)
        if steps is None:
            steps = [(None, _RED), (DEFAULT_GOAL, _GREEN)] if ratio else [(None, _GREEN)]
        panel.thresholds(_steps(*steps))
        if ratio:
            self._follow_goal(panel, goal, queries)
        if mappings:
            panel.mappings(_value_mappings(mappings))

    @staticmethod
    def _follow_goal(panel: Any, goal: str, queries: list[Query]) -> None:
        """Colour against the live `goal` series, not the fixed default: one more query (the
        last, legend "goal"), and Grafana's "Config from query results" transformation, which
        takes its value as the threshold step the default goal holds (`threshold1`) and keeps
        the query itself out of the panel. Without a goal series the default stays."""
        queries.append(Query(goal, legend=GOAL_LEGEND, instant=True))
        ref_id = _REF_IDS[len(queries) - 1]
        panel.with_transformation(
            models.DataTransformerConfig(
                id_val="configFromData",
                options={
                    "configRefId": ref_id,
                    "mappings": [{"fieldName": GOAL_LEGEND, "handlerKey": "threshold1"}],
                },
            )
        )

    def _add(
        self,
        panel: _AnyPanel,
        title: str,
        description: str,
        queries: Sequence[Query],
        width: int,
        height: int,
    ) -> None:
        if not description.strip():
            raise ValueError(f"panel {title!r} needs a description")
        if title in self._titles:
            raise ValueError(f"two panels titled {title!r} on {self.title!r}")
        if not queries or len(queries) > len(_REF_IDS):
            raise ValueError(f"panel {title!r} needs 1 to {len(_REF_IDS)} queries")
        self._titles.add(title)
        panel.id(self._take_id()).title(title).description(description).datasource(_DATASOURCE)
        panel.span(width).height(height)
        for ref_id, query in zip(_REF_IDS, queries, strict=False):
            if not query.expr.strip():
                raise ValueError(f"panel {title!r}: query {ref_id} is empty")
            panel.with_target(_target(query, ref_id))
            self.may_be_empty[(title, ref_id)] = query.may_be_empty
            for label, names in self._names.items():
                if query.legend == f"{{{{{label}}}}}":
                    for value, name in names.items():
                        panel.override_by_name(
                            value, [models.DynamicConfigValue(id_val="displayName", value=name)]
                        )
        self._builder.with_panel(panel)
