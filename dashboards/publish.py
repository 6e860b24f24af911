"""`cashless dashboards push`: publish the folder, data source, dashboards and alert rules.

Talks to Grafana's HTTP API through `grafana-client`. Every object has a fixed uid and is
created or updated by it, and left alone when Grafana already holds the same thing, so a
second push changes nothing. Objects that a Grafana loads from provisioning files (the
docker-compose setup) are read-only there and are left as they are.

Failures become one clear `PublishError`: Grafana unreachable, the token refused (401/403),
a Grafana older than 11, or an object Grafana rejects (with Grafana's own message).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import niquests
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cashless import __version__
from cashless.errors import ConfigError
from dashboards.alerts import FOLDER_TITLE, FOLDER_UID
from dashboards.errors import PublishError
from dashboards.panels import DATASOURCE_UID

__all__ = ["MIN_GRAFANA_MAJOR", "Change", "GrafanaSettings", "Publisher", "datasource_body"]

logger = logging.getLogger(__name__)

MIN_GRAFANA_MAJOR = 11
"""Oldest Grafana major version accepted: the dashboards use the 11.x JSON model."""

_NOT_FOUND = 404


class GrafanaSettings(BaseSettings):
    """Where Grafana is, the token to use, and the Prometheus URL Grafana should query."""

    model_config = SettingsConfigDict(env_prefix="CASHLESS_", frozen=True, extra="ignore")

    grafana_url: str = "http://127.0.0.1:3000"
    grafana_token: SecretStr | None = None
    prometheus_url: str = "http://127.0.0.1:9090"
    grafana_timeout_seconds: float = Field(default=10.0, gt=0)


@dataclass(frozen=True)
class Change:
    """What a push did to one object: `created`, `updated`, `unchanged` or `kept`."""

    kind: str
    name: str
    action: str
    note: str = ""

    def __str__(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"{self.kind} {self.name!r}: {self.action}{note}"


def datasource_body(prometheus_url: str) -> dict[str, Any]:
    """The Prometheus data source every panel and rule refers to by uid."""
    return {
        "uid": DATASOURCE_UID,
        "name": "Cashless Prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": prometheus_url,
        "isDefault": False,
        "jsonData": {"timeInterval": "15s", "httpMethod": "POST"},
    }


def _major(version: str) -> int | None:
    match = re.match(r"\s*v?(\d+)\.", version)
    return int(match.group(1)) if match else None


def _same(wanted: dict[str, Any], existing: dict[str, Any]) -> bool:
    """True when every key we set has the same value in what Grafana holds."""
    return all(existing.get(key) == value for key, value in wanted.items())


@dataclass
class Publisher:
    """Publishes to one Grafana; `push` does everything, in dependency order."""

    settings: GrafanaSettings
    say: Callable[[str], None] = field(default=logger.info)

    def __post_init__(self) -> None:
        token = self.settings.grafana_token
        if token is None or not token.get_secret_value():
            raise ConfigError(
                "no Grafana token: give --token or set CASHLESS_GRAFANA_TOKEN "
                "(a service account token with the Admin role)"
            )
        parts = urlsplit(self.settings.grafana_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PublishError(f"not an http(s) URL: {self.settings.grafana_url!r}")
        prefix = parts.path.strip("/")
        self._url = self.settings.grafana_url.rstrip("/")
        self._api = GrafanaApi(
            auth=token.get_secret_value(),
            host=parts.hostname,
            port=parts.port,
            url_path_prefix=f"{prefix}/" if prefix else "",
            protocol=parts.scheme,
            timeout=self.settings.grafana_timeout_seconds,
            user_agent=f"cashless-monitor/{__version__}",
        )

    # -- the whole push --------------------------------------------------------------------------

    def push(
        self, dashboards: dict[str, dict[str, Any]], rules: list[dict[str, Any]]
    ) -> list[Change]:
        """Check Grafana, then create or update the folder, data source, dashboards, rules."""
        version = self.check_version()
        self.say(f"Grafana {version} at {self._url}")
        changes = [self.ensure_folder(), self.ensure_datasource()]
        changes.extend(self.ensure_dashboard(document) for document in dashboards.values())
        changes.extend(self.ensure_rule(rule) for rule in rules)
        return changes

    # -- steps -----------------------------------------------------------------------------------

    def check_version(self) -> str:
        """Grafana's version from `/api/health`; too old or unreachable raises."""
        with self._errors("checking its health"):
            health = self._api.client.GET("/health")
            version = health.get("version") if isinstance(health, dict) else None
            if not version:
                # /api/health leaves the version out when anonymous users may not see it.
                info = self._api.client.GET("/frontend/settings")
                version = info.get("buildInfo", {}).get("version")
        major = _major(str(version or ""))
        if major is None:
            raise PublishError(f"Grafana at {self._url} did not tell its version")
        if major < MIN_GRAFANA_MAJOR:
            raise PublishError(
                f"Grafana at {self._url} is version {version}, too old: the dashboards need "
                f"Grafana {MIN_GRAFANA_MAJOR} or newer (they are built for 11.6)"
            )
        return str(version)

    def ensure_folder(self) -> Change:
        """The "Cashless Monitor" folder, by uid."""
        with self._errors(f"publishing the folder {FOLDER_TITLE!r}"):
            existing = self._get(f"/folders/{FOLDER_UID}")
            if existing is None:
                self._api.client.POST("/folders", json={"uid": FOLDER_UID, "title": FOLDER_TITLE})
                return self._done(Change("folder", FOLDER_TITLE, "created"))
            if existing.get("title") == FOLDER_TITLE:
                return self._done(Change("folder", FOLDER_TITLE, "unchanged"))
            self._api.client.PUT(
                f"/folders/{FOLDER_UID}", json={"title": FOLDER_TITLE, "overwrite": True}
            )
            return self._done(Change("folder", FOLDER_TITLE, "updated"))

    def ensure_datasource(self) -> Change:
        """The Prometheus data source, by uid; a provisioned (read-only) one is kept."""
        body = datasource_body(self.settings.prometheus_url)
        name = body["name"]
        with self._errors(f"publishing the data source {name!r}"):
            existing = self._get(f"/datasources/uid/{DATASOURCE_UID}")
            if existing is None:
                self._api.client.POST("/datasources", json=body)
                return self._done(Change("data source", name, "created"))
            if existing.get("readOnly"):
                return self._done(
                    Change(
                        "data source",
                        str(existing.get("name", name)),
                        "kept",
                        f"provisioned read-only in this Grafana, pointing at {existing.get('url')}",
                    )
                )
            if _same(body, existing):
                return self._done(Change("data source", name, "unchanged"))
            self._api.client.PUT(f"/datasources/uid/{DATASOURCE_UID}", json=body)
            return self._done(Change("data source", name, "updated"))

    def ensure_dashboard(self, document: dict[str, Any]) -> Change:
        """One dashboard in the folder, by uid; saved only when it differs."""
        uid, title = document["uid"], document["title"]
        with self._errors(f"publishing the dashboard {title!r}"):
            existing = self._get(f"/dashboards/uid/{uid}")
            action = "created"
            if existing is not None:
                meta = existing.get("meta", {})
                if meta.get("provisioned"):
                    return self._done(
                        Change("dashboard", title, "kept", "provisioned from files here")
                    )
                held = {
                    k: v
                    for k, v in existing.get("dashboard", {}).items()
                    if k not in ("id", "version")
                }
                if held == document and meta.get("folderUid") == FOLDER_UID:
                    return self._done(Change("dashboard", title, "unchanged"))
                action = "updated"
            self._api.client.POST(
                "/dashboards/db",
                json={
                    "dashboard": {**document, "id": None},
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": f"cashless dashboards push ({__version__})",
                },
            )
            return self._done(Change("dashboard", title, action))

    def ensure_rule(self, rule: dict[str, Any]) -> Change:
        """One Grafana-managed alert rule, by uid, through the provisioning API."""
        uid, title = rule["uid"], rule["title"]
        with self._errors(f"publishing the alert rule {title!r}"):
            existing = self._get(f"/v1/provisioning/alert-rules/{uid}")
            if existing is None:
                self._api.client.POST("/v1/provisioning/alert-rules", json=rule)
                return self._done(Change("alert rule", title, "created"))
            if _same(rule, existing):
                return self._done(Change("alert rule", title, "unchanged"))
            self._api.client.PUT(f"/v1/provisioning/alert-rules/{uid}", json=rule)
            return self._done(Change("alert rule", title, "updated"))

    # -- internals -------------------------------------------------------------------------------

    def _done(self, change: Change) -> Change:
        self.say(str(change))
        return change

    def _get(self, path: str) -> dict[str, Any] | None:
        """GET `path`; None when Grafana answers 404."""
        try:
            result = self._api.client.GET(path)
        except GrafanaClientError as exc:
            if exc.status_code == _NOT_FOUND:
                return None
            raise
        if not isinstance(result, dict):
            raise PublishError(f"unexpected answer from Grafana for {path}: {result!r:.200}")
        return result

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn grafana-client and transport errors into one clear `PublishError`."""
        try:
            yield
        except GrafanaException as exc:
            status = exc.status_code
            if status in (401, 403):
                raise PublishError(
                    f"the token was refused by Grafana at {self._url} (HTTP {status}) while "
                    f"{doing}: check --token / CASHLESS_GRAFANA_TOKEN and that the service "
                    "account has the Admin role"
                ) from None
            if not status:
                raise PublishError(
                    f"cannot reach Grafana at {self._url} while {doing}: {_reason(str(exc))}"
                ) from None
            raise PublishError(
                f"Grafana at {self._url} refused {doing} (HTTP {status}): {exc.message}"
            ) from None
        except niquests.exceptions.RequestException as exc:
            raise PublishError(
                f"cannot reach Grafana at {self._url} while {doing}: "
                f"{_reason(str(exc) or type(exc).__name__)}"
            ) from None


_REASONS = (
    (re.compile(r"Failed to resolve '([^']+)'"), "cannot resolve the host name {}"),
    (re.compile(r"\[Errno -?\d+\] ([^'\")]+)"), "{}"),
    (re.compile(r"(timed out)", re.IGNORECASE), "{}"),
)


def _reason(text: str) -> str:
    """The gist of a transport error (connection refused, timed out, unknown host, …)."""
    for pattern, template in _REASONS:
        match = pattern.search(text)
        if match:
            return template.format(match.group(1).strip())
    return text if len(text) <= 300 else text[:297] + "..."
