"""The reference computation of contract 2: every metric value, by brute force, from the events.

This is the oracle that the simulator writes beside its output and that end-to-end tests compare
the workers' `/metrics` with. It is deliberately naive (lists and full rescans), so that it is
obviously right; the workers compute the same numbers incrementally.

The readings of contract 2 that it fixes (also stated in the README):

- events are processed in arrival order; a payment event is, in this order: rejected (schema),
  late (older than `e_s − 30d`, where `e_s` is the end of the minute of the latest applied event
  of its segment: the segment is the Kafka key, so this does not depend on how a worker's
  partitions interleave), duplicate (its `(source, event_id)` was applied and that original is
  not older than `e_s − 30d`), or applied;
- only applied payments move stream time and count in windows, trends and `_total` counters;
- event-time days for the trend are local Hanoi days (UTC+7);
- an account's state is its event with the latest `occurred_at`; on a tie `closed` wins, then
  the larger `event_id`; a person counts in the district of their latest account event;
- cells (segment, district or city shares, district holder counts) with fewer than `min_cell`
  events or holders are not exported;
- `source` labels: the first `max_sources` sources in name order keep their label, the rest
  are `other`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from cashless.eventtime import (
    HORIZON,
    TREND_DAYS,
    WINDOWS,
    daily_trend,
    local_day,
    window_end,
)
from cashless.metrics import MetricValues, cap_sources
from cashless.schema import AccountEvent, PaymentEvent
from cashless.taxonomy import NONCASH_METHODS, Taxonomy

__all__ = ["expected_metrics"]


def expected_metrics(
    payments: Iterable[PaymentEvent],
    accounts: Iterable[AccountEvent],
    taxonomy: Taxonomy,
    *,
    min_cell: int = 10,
    rejected: Mapping[str, int] | None = None,
    max_sources: int = 200,
) -> MetricValues:
    """Every metric of contract 2 for events that arrived in the given order."""
    truth = MetricValues()
    applied: list[PaymentEvent] = []
    first_applied: dict[tuple[str, str], float] = {}
    stream_time: float | None = None
    clocks: dict[str, float] = {}
    duplicates = late = 0
    newest: dict[str, float] = {}

    for event in payments:
        t = event.occurred_at.timestamp()
        newest[event.source] = max(newest.get(event.source, t), t)
        clock = clocks.get(event.key)
        horizon = None if clock is None else window_end(clock) - HORIZON
        if horizon is not None and t < horizon:
            late += 1
            continue
        key = (event.source, event.event_id)
        if key in first_applied and (horizon is None or first_applied[key] >= horizon):
            duplicates += 1
            continue
        first_applied[key] = t
        applied.append(event)
        clocks[event.key] = t if clock is None else max(clock, t)
        stream_time = t if stream_time is None else max(stream_time, t)

    _totals(truth, applied)
    if stream_time is not None:
        truth.set("cashless_stream_time_seconds", stream_time)
        _windows(truth, applied, window_end(stream_time), min_cell)
        _trends(truth, applied, stream_time, min_cell)
    account_list = list(accounts)
    for account in account_list:
        t = account.occurred_at.timestamp()
        newest[account.source] = max(newest.get(account.source, t), t)
    _coverage(truth, account_list, taxonomy, min_cell)
    for source, t in cap_sources(newest, max_sources).items():
        truth.set("cashless_last_event_timestamp_seconds", t, source=source)
    truth.set("cashless_events_duplicate_total", duplicates)
    truth.set("cashless_events_late_total", late)
    for reason, count in (rejected or {}).items():
        truth.set("cashless_events_rejected_total", count, reason=reason)
    truth.set("cashless_goal_ratio", 0.5, goal="noncash")
    truth.set("cashless_goal_ratio", 0.5, goal="epayment_accounts")
    return truth


def _totals(truth: MetricValues, applied: list[PaymentEvent]) -> None:
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    amounts: dict[tuple[str, str, str], int] = defaultdict(int)
    for e in applied:
        counts[e.channel, e.segment, e.method] += 1
        amounts[e.channel, e.segment, e.method] += e.amount_vnd
    for (channel, segment, method), count in counts.items():
        labels = {"channel": channel, "segment": segment, "method": method}
        truth.set("cashless_payments_total", count, **labels)
        truth.set("cashless_payments_amount_vnd_total", amounts[channel, segment, method], **labels)


def _windows(truth: MetricValues, applied: list[PaymentEvent], end: int, min_cell: int) -> None:
    for window, length in WINDOWS.items():
        inside = [e for e in applied if end - length <= e.occurred_at.timestamp() < end]
        segments: dict[tuple[str, str], list[PaymentEvent]] = defaultdict(list)
        districts: dict[str, list[PaymentEvent]] = defaultdict(list)
        for e in inside:
            segments[e.channel, e.segment].append(e)
            districts[e.district].append(e)
        for (channel, segment), cell in segments.items():
            if len(cell) < min_cell:
                continue
            labels = {"channel": channel, "segment": segment, "window": window}
            truth.set("cashless_noncash_ratio", _count_share(cell), **labels)
            noncash_amount = sum(e.amount_vnd for e in cell if e.method in NONCASH_METHODS)
            total_amount = sum(e.amount_vnd for e in cell)
            truth.set("cashless_noncash_value_ratio", noncash_amount / total_amount, **labels)
        for district, cell in districts.items():
            if len(cell) >= min_cell:
                share = _count_share(cell)
                truth.set(
                    "cashless_district_noncash_ratio", share, district=district, window=window
                )
        if len(inside) >= min_cell:
            truth.set("cashless_city_noncash_ratio", _count_share(inside), window=window)


def _count_share(cell: list[PaymentEvent]) -> float:
    return sum(1 for e in cell if e.method in NONCASH_METHODS) / len(cell)


def _trends(
    truth: MetricValues, applied: list[PaymentEvent], stream_time: float, min_cell: int
) -> None:
    today = local_day(stream_time)
    first = today - TREND_DAYS
    segments: dict[tuple[str, str], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0])
    )
    districts: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    city: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for e in applied:
        day = local_day(e.occurred_at.timestamp())
        if first <= day < today:
            noncash = e.method in NONCASH_METHODS
            for cell in (
                segments[e.channel, e.segment][day],
                districts[e.district][day],
                city[day],
            ):
                cell[0] += 1
                cell[1] += noncash
    for (channel, segment), days in segments.items():
        slope = daily_trend(days, today, min_cell)
        if slope is not None:
            truth.set("cashless_adoption_trend_per_day", slope, channel=channel, segment=segment)
    for district, days in districts.items():
        slope = daily_trend(days, today, min_cell)
        if slope is not None:
            truth.set("cashless_district_adoption_trend_per_day", slope, district=district)
    slope = daily_trend(city, today, min_cell)
    if slope is not None:
        truth.set("cashless_city_adoption_trend_per_day", slope)


def _coverage(
    truth: MetricValues, accounts: list[AccountEvent], taxonomy: Taxonomy, min_cell: int
) -> None:
    def rank(a: AccountEvent) -> tuple[datetime, bool, str]:
        return a.occurred_at, a.type == "closed", a.event_id

    latest_account: dict[tuple[str, str], AccountEvent] = {}
    latest_person: dict[str, AccountEvent] = {}
    for a in accounts:
        key = (a.holder, a.source)
        if key not in latest_account or rank(a) > rank(latest_account[key]):
            latest_account[key] = a
        if a.holder not in latest_person or rank(a) > rank(latest_person[a.holder]):
            latest_person[a.holder] = a
    covered = {holder for (holder, _), a in latest_account.items() if a.type == "opened"}
    per_district: dict[str, int] = defaultdict(int)
    for holder in covered:
        per_district[latest_person[holder].district] += 1
    for slug, district in taxonomy.districts.items():
        holders = per_district.get(slug, 0)
        if holders >= min_cell:
            truth.set("cashless_epayment_account_holders", holders, district=slug)
            truth.set(
                "cashless_epayment_account_ratio", holders / district.population, district=slug
            )
    if len(covered) >= min_cell:
        truth.set("cashless_city_epayment_account_ratio", len(covered) / taxonomy.population)
