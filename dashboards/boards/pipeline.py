"""Pipeline health: is data flowing, is it being rejected, and is any source silent."""

from __future__ import annotations

from cashless.promql import STREAM_TIME
from dashboards.panels import Board, Query

__all__ = ["pipeline_health"]

_HOUR, _DAY = 3600, 86400
_WORKERS = 'up{job="cashless-worker"}'


def pipeline_health() -> Board:
    """What an operator checks when a number looks wrong or an alert fires."""
    board = Board(
        "cashless-pipeline-health",
        "Cashless Monitor — Pipeline health",
        "Whether payment data is flowing through the monitor: accepted, rejected, duplicate "
        "and late events, the silence of each source, stream time, and the workers.",
        ["pipeline"],
    )
    board.row("Alerts")
    board.alert_list(
        "Pipeline alerts now",
        "The pipeline's alerts firing or pending now (workers, stream time, silent sources, "
        "rejections, processing errors, the gateway, consumer lag), most important first. Each "
        "links its section of docs/RUNBOOK.md: what to check and what to do.",
        labels='{area="pipeline"}',
        height=6,
    )
    board.row("Workers and stream time")
    board.stat(
        "Workers up",
        "How many stream workers Prometheus could scrape at its last attempt. Red at 0: no "
        "number on any dashboard is being updated.",
        Query(f"sum({_WORKERS})"),
        unit="none",
        steps=[(None, "red"), (1, "green")],
        graph=False,
    )
    board.stat(
        "Stream time",
        "The newest event time of an accepted payment: the moment the monitor's numbers are "
        "up to. Every rolling window ends here, not at the wall-clock time.",
        Query("max(cashless_stream_time_seconds) * 1000"),
        unit="dateTimeAsIso",
        steps=[(None, "blue")],
        graph=False,
    )
    board.stat(
        "Stream time behind the clock",
        "How far stream time (the newest accepted payment's event time) is behind the "
        "wall clock. Seconds to minutes when data flows live; large while history is being "
        "replayed or when every source has gone quiet.",
        Query("time() - max(cashless_stream_time_seconds)"),
        unit="s",
        steps=[(None, "green"), (15 * 60, "orange"), (_HOUR, "red")],
    )
    board.stat(
        "Events rejected, total",
        "Events sent to the dead-letter topic since the monitor started, for every reason "
        "(bad JSON, unknown district, missing field, …). Each one can be fixed and replayed.",
        Query("sum(cashless_events_rejected_total) or vector(0)"),
        unit="short",
        steps=[(None, "green"), (1, "orange")],
    )
    board.timeseries(
        "Workers",
        "Each stream worker over time: 1 when Prometheus could scrape it, 0 when it could not.",
        [Query(_WORKERS, legend="{{instance}}")],
        unit="none",
        width=24,
        height=6,
    )

    board.row("Events")
    board.timeseries(
        "Accepted events per second, by segment",
        "Payment events accepted and applied per second of arrival, per channel and segment "
        "(payments carry no source label; the sources are in the silence panel below).",
        [
            Query(
                "sum by (channel, segment) (rate(cashless_payments_total[$__rate_interval]))",
                legend="{{channel}} / {{segment}}",
            )
        ],
        unit="cps",
        stack=True,
        width=24,
    )
    board.timeseries(
        "Rejected events per second, by reason",
        "Events sent to the dead-letter topic per second, by machine-readable reason. Empty "
        "while nothing has been rejected.",
        [
            Query(
                "sum by (reason) (rate(cashless_events_rejected_total[$__rate_interval]))",
                legend="{{reason}}",
                may_be_empty=True,
            )
        ],
        unit="cps",
        stack=True,
        width=8,
    )
    board.timeseries(
        "Duplicate events per second",
        "Payment events dropped because the same (source, event id) was already counted: a "
        "re-sent file or a retried batch. Dropping them keeps every number exact.",
        [
            Query(
                "sum(rate(cashless_events_duplicate_total[$__rate_interval]))",
                legend="duplicates",
            )
        ],
        unit="cps",
        width=8,
    )
    board.timeseries(
        "Late events per second",
        "Payment events dropped because their event time is more than 30 days before stream "
        "time, too old for any window. Counted here, not applied.",
        [Query("sum(rate(cashless_events_late_total[$__rate_interval]))", legend="late")],
        unit="cps",
        width=8,
    )

    board.timeseries(
        "Consumer lag per worker and partition",
        "Kafka records of each input partition that its worker has not read yet. Near 0 when "
        "the workers keep up; a line that keeps rising means a worker falls behind.",
        [
            Query(
                "max by (instance, topic, partition) (cashless_consumer_lag_records)",
                legend="{{instance}} {{topic}}/{{partition}}",
            )
        ],
        unit="short",
        width=24,
    )

    board.row("Gateway")
    board.timeseries(
        "Gateway answers per second, by status",
        "HTTP requests the gateway answered per second, by route and status code: 2xx "
        "accepted, 4xx refused (bad token, invalid items, rate limit), 5xx its own or Kafka's "
        "trouble.",
        [
            Query(
                "sum by (endpoint, status) "
                "(rate(cashless_gateway_requests_total[$__rate_interval]))",
                legend="{{endpoint}} {{status}}",
                may_be_empty=True,
            )
        ],
        unit="reqps",
        stack=True,
        width=8,
    )
    board.timeseries(
        "Gateway latency, 99th percentile",
        "Time to answer a request, 99th percentile over the interval, by route.",
        [
            Query(
                "histogram_quantile(0.99, sum by (endpoint, le) "
                "(rate(cashless_gateway_request_duration_seconds_bucket[$__rate_interval])))",
                legend="{{endpoint}}",
                may_be_empty=True,
            )
        ],
        unit="s",
        width=8,
    )
    board.timeseries(
        "Events accepted by the gateway per second",
        "Events the gateway accepted and Kafka acknowledged, per second, by kind (payments "
        "or account events).",
        [
            Query(
                "sum by (kind) (rate(cashless_gateway_events_accepted_total[$__rate_interval]))",
                legend="{{kind}}",
                may_be_empty=True,
            )
        ],
        unit="cps",
        width=8,
    )

    board.row("Sources")
    board.bars(
        "Source silence in event time",
        "For each source (utility, market board, street operator), how far its newest event "
        "is behind stream time. A source far behind the others has stopped sending. Orange "
        "after an hour, red after a day.",
        Query(
            f"sort_desc({STREAM_TIME} - cashless_last_event_timestamp_seconds)",
            legend="{{source}}",
            instant=True,
        ),
        unit="s",
        steps=[(None, "green"), (_HOUR, "orange"), (_DAY, "red")],
        height=12,
    )
    board.timeseries(
        "Time since each source's newest event",
        "For each source, the wall-clock time since the event time of its newest event. "
        "For live feeds this is how long the source has been silent; for replayed history "
        "it is large by design.",
        [
            Query(
                "time() - cashless_last_event_timestamp_seconds",
                legend="{{source}}",
            )
        ],
        unit="s",
        steps=[(None, "green"), (_DAY, "red")],
        height=12,
    )
    return board
