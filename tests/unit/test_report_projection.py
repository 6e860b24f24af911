"""The projection arithmetic: the PromQL shared with Grafana, run by promtool on made-up series
(rising, flat, falling, already reached, too few days), and its reading as a date and a deadline."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from cashless import promql
from reports.projection import projection_from_days

GOAL = 0.5
SHARE = 0.4


def _series(trend: float | None, share: float = SHARE) -> list[dict[str, str]]:
    series = [
        {"series": 'cashless_goal_ratio{goal="noncash"}', "values": f"{GOAL}x5"},
        {"series": 'cashless_city_noncash_ratio{window="30d"}', "values": f"{share}x5"},
        {"series": "cashless_stream_time_seconds", "values": "1000000x5"},
    ]
    if trend is not None:  # no trend series: fewer than two full days of data
        series.append({"series": "cashless_city_adoption_trend_per_day", "values": f"{trend}x5"})
    return series


@pytest.mark.parametrize(
    ("case", "trend", "share", "days"),
    [
        ("rising", 0.002, SHARE, (GOAL - SHARE) / 0.002),
        ("flat", 0.0, SHARE, promql.NOT_AT_THIS_TREND),
        ("falling", -0.001, SHARE, promql.NOT_AT_THIS_TREND),
        ("already reached", -0.001, 0.55, promql.GOAL_REACHED),
        ("too few days", None, SHARE, promql.NO_TREND_YET),
    ],
)
def test_days_to_the_goal_as_promtool_computes_them(
    tmp_path: Path, case: str, trend: float | None, share: float, days: float
) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool comes with the Debian prometheus package"
    cases = [(promql.city_projection(as_date=False), days)]
    if days > 0:  # a date: that many days after stream time, in milliseconds
        cases.append((promql.city_projection(as_date=True), (1_000_000 + 86_400 * days) * 1000))
    test = {
        "rule_files": [],
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(trend, share),
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "2m",
                        "exp_samples": [{"labels": "{}", "value": value}],
                    }
                    for expr, value in cases
                ],
            }
        ],
    }
    path = tmp_path / "projection.yml"
    path.write_text(yaml.safe_dump(test), "utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{case}: {result.stdout}{result.stderr}"


BASE = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)  # 12:00 in Hanoi
DEADLINE = date(2027, 6, 30)


def test_a_rising_share_reaches_the_goal_on_a_hanoi_date_checked_against_the_deadline() -> None:
    soon = projection_from_days(10.0, BASE, DEADLINE)
    assert (soon.status, soon.day, soon.before_deadline) == ("projected", date(2026, 12, 13), True)
    late = projection_from_days(400.0, BASE, DEADLINE)
    assert (late.day, late.before_deadline) == (date(2028, 1, 7), False)
    # 19:00 UTC is already the next day in Hanoi
    evening = projection_from_days(0.5, BASE.replace(hour=12), DEADLINE)
    assert evening.day == date(2026, 12, 4)


def test_the_sentinels_read_as_reached_not_at_this_trend_and_no_trend() -> None:
    assert projection_from_days(promql.GOAL_REACHED, BASE, DEADLINE).status == "reached"
    assert projection_from_days(promql.NOT_AT_THIS_TREND, BASE, DEADLINE).status == "not_at_trend"
    assert projection_from_days(promql.NO_TREND_YET, BASE, DEADLINE).status == "no_trend"
    assert projection_from_days(None, BASE, DEADLINE).status == "no_trend"
    with pytest.raises(ValueError, match="neither a date nor a sentinel"):
        projection_from_days(-7.0, BASE, DEADLINE)
