"""Reading Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`) and Alertmanager's
(`/api/v2/alerts`): instant vectors, ranges and the alerts firing now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from cashless.errors import CashlessError

__all__ = ["Alert", "Alertmanager", "Prometheus", "Sample", "SourceError"]

_TIMEOUT = 10.0


class SourceError(CashlessError):
    """Prometheus or Alertmanager could not be read, or refused a query."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels (without `__name__`) and value."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Alert:
    """One alert Alertmanager holds as active."""

    name: str
    severity: str
    summary: str
    starts_at: str
    labels: dict[str, str]


def _get(url: str, params: dict[str, str] | None, what: str) -> Any:
    try:
        response = httpx.get(url, params=params, timeout=_TIMEOUT)
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot reach {what} at {url}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        raise SourceError(
            f"{what} at {url} answered HTTP {response.status_code}, not JSON"
        ) from None
    if response.status_code >= 400 and not isinstance(answer, dict):
        raise SourceError(f"{what} at {url} answered HTTP {response.status_code}")
    return answer


class Prometheus:
    """Queries evaluated at one moment `at`."""

    def __init__(self, url: str, at: datetime) -> None:
        self.url = url.rstrip("/")
        self.at = at

    def _data(self, path: str, params: dict[str, str], expr: str) -> Any:
        answer = _get(f"{self.url}{path}", params, "Prometheus")
        if answer.get("status") != "success":
            raise SourceError(f"Prometheus refused a query ({answer.get('error')}): {expr}")
        return answer["data"]

    def vector(self, expr: str) -> list[Sample]:
        """The instant vector `expr` at `at`."""
        data = self._data("/api/v1/query", {"query": expr, "time": str(self.at.timestamp())}, expr)
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        return [
            Sample(
                {k: v for k, v in s["metric"].items() if k != "__name__"},
                float(s["value"][1]),
            )
            for s in data["result"]
        ]

    def scalar(self, expr: str) -> float | None:
        """The single value of `expr`, or None when it has no series."""
        samples = self.vector(expr)
        if len(samples) > 1:
            raise SourceError(f"expected one series, Prometheus gave {len(samples)}: {expr}")
        return samples[0].value if samples else None

    def range(
        self, expr: str, start: datetime, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """`expr` from `start` to `at` every `step` seconds: (labels, [(t, value)]) per series."""
        params = {
            "query": expr,
            "start": str(start.timestamp()),
            "end": str(self.at.timestamp()),
            "step": str(step),
        }
        data = self._data("/api/v1/query_range", params, expr)
        return [
            (
                {k: v for k, v in s["metric"].items() if k != "__name__"},
                [(float(t), float(v)) for t, v in s["values"]],
            )
            for s in data["result"]
        ]


class Alertmanager:
    """The alerts an Alertmanager holds."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def firing(self) -> list[Alert]:
        """Active alerts (not silenced or inhibited), oldest first."""
        params = {"active": "true", "silenced": "false", "inhibited": "false"}
        answer = _get(f"{self.url}/api/v2/alerts", params, "Alertmanager")
        if not isinstance(answer, list):
            raise SourceError(f"Alertmanager at {self.url} did not answer a list of alerts")
        alerts = [
            Alert(
                name=a["labels"].get("alertname", ""),
                severity=a["labels"].get("severity", ""),
                summary=a.get("annotations", {}).get("summary", ""),
                starts_at=a.get("startsAt", ""),
                labels=dict(a["labels"]),
            )
            for a in answer
        ]
        return sorted(alerts, key=lambda a: (a.starts_at, a.name, sorted(a.labels.items())))
