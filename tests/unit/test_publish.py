"""`cashless dashboards push` against a fake Grafana: an HTTP server in a thread, on a free port.

No Grafana runs in CI, so the fake holds state like Grafana does and checks every request the
way Grafana's HTTP API would (paths, methods, JSON bodies, `Authorization: Bearer …`, uid and
name conflicts, unknown folders and data sources), recording each one. The publisher must
create everything once, change nothing on a second push, and fail with a clear message on a
refused token, an unreachable server or a Grafana older than 11.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from cashless.errors import ConfigError
from cli.main import cli
from dashboards.alerts import FOLDER_TITLE, FOLDER_UID, alert_rules
from dashboards.errors import PublishError
from dashboards.panels import DATASOURCE_UID
from dashboards.publish import GrafanaSettings, Publisher
from dashboards.render import dashboard_documents
from ops.stack.ports import free_port

TOKEN = "glsa_test-token-0123456789"
PROMETHEUS_URL = "http://prometheus.example:9090"

_RULE_FIELDS = {"title", "condition", "data", "folderUID", "ruleGroup", "for"}
_RULE_STATES = {
    "noDataState": {"OK", "NoData", "Alerting"},
    "execErrState": {"OK", "Error", "Alerting"},
}


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    authorization: str | None
    body: Any


class Reply(Exception):
    """Raised inside a route to answer with this status and JSON body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _require(condition: bool, message: str, status: int = 400) -> None:
    if not condition:
        raise Reply(status, {"message": message})


@dataclass
class FakeGrafana:
    """Grafana's state and the subset of its HTTP API the publisher uses."""

    version: str = "11.6.0"
    token: str = TOKEN
    forbidden: bool = False
    prefix: str = ""
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    _next_id: int = 1

    # -- dispatch --------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        body: Any = None
        if raw:
            if not headers.get("content-type", "").startswith("application/json"):
                return Reply(415, {"message": "content type must be application/json"})
            try:
                body = json.loads(raw)
            except ValueError:
                return Reply(400, {"message": "bad request data"})
        self.requests.append(Request(method, path, headers.get("authorization"), body))
        if not path.startswith(f"{self.prefix}/api/"):
            self.unexpected.append(f"{method} {path}")
            return Reply(404, {"message": "Not found"})
        route = path.removeprefix(f"{self.prefix}/api")
        try:
            if (method, route) == ("GET", "/health"):
                raise Reply(200, {"commit": "abc123", "database": "ok", "version": self.version})
            if headers.get("authorization") != f"Bearer {self.token}":
                raise Reply(401, {"message": "invalid API key"})
            if self.forbidden:
                raise Reply(403, {"message": "You'll need additional permissions"})
            self._route(method, route, body)
        except Reply as reply:
            return reply
        self.unexpected.append(f"{method} {path}")
        return Reply(404, {"message": "Not found"})

    def _route(self, method: str, route: str, body: Any) -> None:
        routes: list[tuple[str, str, Callable[..., None]]] = [
            ("GET", r"/folders/([\w-]+)", self._get_folder),
            ("POST", r"/folders", self._create_folder),
            ("PUT", r"/folders/([\w-]+)", self._update_folder),
            ("GET", r"/datasources/uid/([\w-]+)", self._get_datasource),
            ("POST", r"/datasources", self._create_datasource),
            ("PUT", r"/datasources/uid/([\w-]+)", self._update_datasource),
            ("GET", r"/dashboards/uid/([\w-]+)", self._get_dashboard),
            ("POST", r"/dashboards/db", self._save_dashboard),
            ("GET", r"/v1/provisioning/alert-rules/([\w-]+)", self._get_rule),
            ("POST", r"/v1/provisioning/alert-rules", self._create_rule),
            ("PUT", r"/v1/provisioning/alert-rules/([\w-]+)", self._update_rule),
        ]
        for route_method, pattern, action in routes:
            match = re.fullmatch(pattern, route)
            if match and method == route_method:
                action(body, *match.groups())
        # falls through to 404 when nothing matched

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- folders ---------------------------------------------------------------------------------

    def _get_folder(self, _: Any, uid: str) -> None:
        _require(uid in self.folders, "folder not found", 404)
        raise Reply(200, self.folders[uid])

    def _create_folder(self, body: Any, *_: str) -> None:
        _require(isinstance(body, dict), "body must be an object")
        _require(set(body) <= {"uid", "title", "parentUid", "description"}, f"bad keys {body}")
        _require(isinstance(body.get("title"), str) and bool(body["title"]), "title is required")
        uid = body.get("uid") or f"generated-{self._id()}"
        _require(len(uid) <= 40, "uid too long")
        _require(uid not in self.folders, "a folder with the same uid already exists", 409)
        titles = {f["title"] for f in self.folders.values()}
        _require(body["title"] not in titles, "a folder with the same name already exists", 409)
        self.folders[uid] = {"id": self._id(), "uid": uid, "title": body["title"], "version": 1}
        raise Reply(200, self.folders[uid])

    def _update_folder(self, body: Any, uid: str) -> None:
        _require(uid in self.folders, "folder not found", 404)
        folder = self.folders[uid]
        _require(isinstance(body.get("title"), str), "title is required")
        _require(
            body.get("overwrite") is True or body.get("version") == folder["version"],
            "the folder has been changed by someone else",
            412,
        )
        folder.update(title=body["title"], version=folder["version"] + 1)
        raise Reply(200, folder)

    # -- data sources ----------------------------------------------------------------------------

    def _get_datasource(self, _: Any, uid: str) -> None:
        _require(uid in self.datasources, "Data source not found", 404)
        raise Reply(200, self.datasources[uid])

    def _check_datasource(self, body: Any) -> None:
        _require(isinstance(body, dict), "body must be an object")
        for key in ("name", "type", "access", "url"):
            _require(isinstance(body.get(key), str) and bool(body[key]), f"{key} is required")
        _require(body["access"] in ("proxy", "direct"), "bad access mode")
        _require(body["type"] == "prometheus", "unexpected data source type")
        _require(isinstance(body.get("jsonData", {}), dict), "jsonData must be an object")

    def _create_datasource(self, body: Any, *_: str) -> None:
        self._check_datasource(body)
        uid = body.get("uid") or f"generated-{self._id()}"
        names = {d["name"] for d in self.datasources.values()}
        _require(body["name"] not in names, "data source with the same name already exists", 409)
        _require(uid not in self.datasources, "data source with the same uid already exists", 409)
        stored = {**body, "uid": uid, "id": self._id(), "readOnly": False, "version": 1}
        self.datasources[uid] = stored
        raise Reply(200, {"datasource": stored, "id": stored["id"], "message": "Datasource added"})

    def _update_datasource(self, body: Any, uid: str) -> None:
        _require(uid in self.datasources, "Data source not found", 404)
        existing = self.datasources[uid]
        _require(not existing["readOnly"], "Cannot update read-only data source", 403)
        self._check_datasource(body)
        existing.update(body)
        existing["version"] += 1
        raise Reply(200, {"datasource": existing, "message": "Datasource updated"})

    # -- dashboards ------------------------------------------------------------------------------

    def _get_dashboard(self, _: Any, uid: str) -> None:
        _require(uid in self.dashboards, "Dashboard not found", 404)
        stored = self.dashboards[uid]
        raise Reply(
            200,
            {
                "dashboard": stored["dashboard"],
                "meta": {"folderUid": stored["folderUid"], "provisioned": stored["provisioned"]},
            },
        )

    def _save_dashboard(self, body: Any, *_: str) -> None:
        _require(isinstance(body, dict), "body must be an object")
        allowed = {"dashboard", "folderUid", "folderId", "overwrite", "message"}
        _require(set(body) <= allowed, f"bad keys {set(body) - allowed}")
        dashboard = body.get("dashboard")
        _require(isinstance(dashboard, dict), "dashboard is required")
        _require(bool(dashboard.get("title")), "Dashboard title cannot be empty")
        _require(isinstance(dashboard.get("schemaVersion"), int), "schemaVersion is required")
        _require(isinstance(dashboard.get("panels"), list), "panels must be a list")
        uid = dashboard.get("uid")
        _require(isinstance(uid, str) and 0 < len(uid) <= 40, "dashboard uid is required")
        folder_uid = body.get("folderUid")
        _require(folder_uid in self.folders, "folder not found", 400)
        existing = self.dashboards.get(uid)
        if existing is not None:
            _require(not existing["provisioned"], "Cannot save provisioned dashboard", 400)
            _require(body.get("overwrite") is True, "version-mismatch", 412)
        else:
            _require(dashboard.get("id") is None, "Dashboard not found", 404)
        version = existing["dashboard"]["version"] + 1 if existing else 1
        dashboard_id = existing["dashboard"]["id"] if existing else self._id()
        stored = {**dashboard, "id": dashboard_id, "version": version}
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid, "provisioned": False}
        raise Reply(
            200,
            {"id": dashboard_id, "uid": uid, "status": "success", "version": version, "url": "/d"},
        )

    # -- alert rules -----------------------------------------------------------------------------

    def _get_rule(self, _: Any, uid: str) -> None:
        _require(uid in self.rules, "rule not found", 404)
        raise Reply(200, self.rules[uid])

    def _check_rule(self, body: Any) -> None:
        _require(isinstance(body, dict), "body must be an object")
        missing = _RULE_FIELDS - set(body)
        _require(not missing, f"missing fields {missing}")
        for key, allowed in _RULE_STATES.items():
            _require(body.get(key) in allowed, f"invalid {key}")
        _require(body["folderUID"] in self.folders, "folder does not exist", 400)
        _require(isinstance(body["data"], list) and bool(body["data"]), "no queries")
        ref_ids = set()
        for query in body["data"]:
            _require({"refId", "datasourceUid", "model"} <= set(query), "incomplete query")
            _require(
                query["datasourceUid"] == "__expr__" or query["datasourceUid"] in self.datasources,
                f"data source {query['datasourceUid']} not found",
            )
            ref_ids.add(query["refId"])
        _require(body["condition"] in ref_ids, "condition is not a refId of the queries")

    def _create_rule(self, body: Any, *_: str) -> None:
        self._check_rule(body)
        uid = body.get("uid") or f"generated-{self._id()}"
        _require(uid not in self.rules, "a rule with this uid already exists", 409)
        self.rules[uid] = {
            **copy.deepcopy(body),
            "uid": uid,
            "id": self._id(),
            "provenance": "api",
            "updated": "2026-11-23T08:00:00Z",
        }
        raise Reply(201, self.rules[uid])

    def _update_rule(self, body: Any, uid: str) -> None:
        _require(uid in self.rules, "rule not found", 404)
        self._check_rule(body)
        _require(body.get("uid", uid) == uid, "uid in body differs from the path")
        self.rules[uid].update(copy.deepcopy(body))
        raise Reply(200, self.rules[uid])

    # -- what the tests look at ------------------------------------------------------------------

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "DELETE")]


def _handler(fake: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per keep-alive reply

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with lock:
                reply = fake.handle(self.command, self.path, headers, raw)
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the fake records requests itself."""

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start a fake Grafana on a free port: `serve(FakeGrafana(...))` returns its base URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeGrafana) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}{fake.prefix}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def publisher(url: str, token: str | None = TOKEN) -> Publisher:
    settings = GrafanaSettings(
        grafana_url=url,
        grafana_token=SecretStr(token) if token is not None else None,
        prometheus_url=PROMETHEUS_URL,
        grafana_timeout_seconds=5,
    )
    return Publisher(settings, say=lambda _: None)


def push(url: str, token: str | None = TOKEN) -> list[str]:
    changes = publisher(url, token).push(dashboard_documents(), alert_rules())
    return [f"{c.kind}:{c.action}" for c in changes]


# -- tests -----------------------------------------------------------------------------------


def test_first_push_creates_folder_datasource_dashboards_and_rules(serve: Any) -> None:
    fake = FakeGrafana()
    actions = push(serve(fake))

    documents = dashboard_documents()
    rules = alert_rules()
    assert actions == (
        ["folder:created", "data source:created"]
        + ["dashboard:created"] * len(documents)
        + ["alert rule:created"] * len(rules)
    )
    assert fake.unexpected == []
    assert fake.folders[FOLDER_UID]["title"] == FOLDER_TITLE
    datasource = fake.datasources[DATASOURCE_UID]
    assert (datasource["type"], datasource["url"]) == ("prometheus", PROMETHEUS_URL)
    assert set(fake.dashboards) == set(documents)
    for uid, stored in fake.dashboards.items():
        assert stored["folderUid"] == FOLDER_UID
        held = {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")}
        assert held == documents[uid]
    assert set(fake.rules) == {rule["uid"] for rule in rules}
    # every request but the health check carried the token as a bearer token
    for request in fake.requests:
        if not request.path.endswith("/api/health"):
            assert request.authorization == f"Bearer {TOKEN}", request.path
    # dashboards were posted with overwrite and without an instance id
    posts = [r for r in fake.requests if r.path == "/api/dashboards/db"]
    assert len(posts) == len(documents)
    for post in posts:
        assert post.method == "POST"
        assert post.body["overwrite"] is True
        assert post.body["folderUid"] == FOLDER_UID
        assert post.body["dashboard"]["id"] is None


def test_second_push_changes_nothing(serve: Any) -> None:
    fake = FakeGrafana()
    url = serve(fake)
    push(url)
    state = copy.deepcopy((fake.folders, fake.datasources, fake.dashboards, fake.rules))
    writes = len(fake.writes())

    actions = push(url)

    assert {action.split(":")[1] for action in actions} == {"unchanged"}
    assert len(fake.writes()) == writes, "a second push must not write"
    assert (fake.folders, fake.datasources, fake.dashboards, fake.rules) == state
    assert fake.unexpected == []


def test_push_updates_what_was_changed_in_grafana_by_uid(serve: Any) -> None:
    fake = FakeGrafana()
    url = serve(fake)
    push(url)
    fake.folders[FOLDER_UID]["title"] = "Renamed by hand"
    fake.datasources[DATASOURCE_UID]["url"] = "http://elsewhere:9090"
    some_uid = next(iter(fake.dashboards))
    fake.dashboards[some_uid]["dashboard"]["title"] = "Edited by hand"
    rule_uid = next(iter(fake.rules))
    fake.rules[rule_uid]["for"] = "5m"

    actions = push(url)

    assert actions.count("folder:updated") == 1
    assert actions.count("data source:updated") == 1
    assert actions.count("dashboard:updated") == 1
    assert actions.count("alert rule:updated") == 1
    assert fake.folders[FOLDER_UID]["title"] == FOLDER_TITLE
    assert fake.datasources[DATASOURCE_UID]["url"] == PROMETHEUS_URL
    assert (
        fake.dashboards[some_uid]["dashboard"]["title"] == dashboard_documents()[some_uid]["title"]
    )
    assert fake.dashboards[some_uid]["dashboard"]["version"] == 2
    assert fake.rules[rule_uid]["for"] == alert_rules()[0]["for"]
    # still one of each: updates, not duplicates
    assert len(fake.folders) == 1
    assert len(fake.datasources) == 1
    assert len(fake.dashboards) == len(dashboard_documents())
    assert len(fake.rules) == len(alert_rules())
    assert fake.unexpected == []


def test_provisioned_datasource_and_dashboards_are_left_alone(serve: Any) -> None:
    fake = FakeGrafana()
    fake.datasources[DATASOURCE_UID] = {
        "uid": DATASOURCE_UID,
        "name": "Prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": "http://prometheus:9090",
        "readOnly": True,
    }
    fake.folders[FOLDER_UID] = {"id": 1, "uid": FOLDER_UID, "title": FOLDER_TITLE, "version": 1}
    for uid, document in dashboard_documents().items():
        fake.dashboards[uid] = {
            "dashboard": {**document, "id": 7, "version": 1},
            "folderUid": FOLDER_UID,
            "provisioned": True,
        }

    actions = push(serve(fake))

    assert actions.count("data source:kept") == 1
    assert actions.count("dashboard:kept") == len(dashboard_documents())
    assert fake.datasources[DATASOURCE_UID]["url"] == "http://prometheus:9090"
    assert [r.path for r in fake.writes()] == ["/api/v1/provisioning/alert-rules"]


def test_refused_token_is_reported_as_such(serve: Any) -> None:
    fake = FakeGrafana()
    url = serve(fake)
    with pytest.raises(PublishError, match=r"the token was refused .*HTTP 401"):
        push(url, token="wrong-token")
    assert fake.writes() == []


def test_token_without_permission_is_reported_as_refused(serve: Any) -> None:
    url = serve(FakeGrafana(forbidden=True))
    with pytest.raises(PublishError, match=r"the token was refused .*HTTP 403"):
        push(url)


def test_missing_token_is_a_setting_to_give() -> None:
    with pytest.raises(ConfigError, match="no Grafana token"):
        publisher("http://127.0.0.1:3000", token=None)


def test_unreachable_grafana_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PublishError, match=rf"cannot reach Grafana at {re.escape(url)}"):
        push(url)


def test_grafana_older_than_11_is_refused_before_anything_is_written(serve: Any) -> None:
    fake = FakeGrafana(version="10.4.2")
    url = serve(fake)
    with pytest.raises(PublishError, match=r"version 10\.4\.2, too old.*Grafana 11 or newer"):
        push(url)
    assert [r.path for r in fake.requests] == ["/api/health"]


@pytest.mark.parametrize("version", ["11.0.0", "11.6.0", "12.0.0+security-01", "12.1.0-pre"])
def test_grafana_11_and_newer_are_accepted(serve: Any, version: str) -> None:
    fake = FakeGrafana(version=version)
    assert publisher(serve(fake)).check_version() == version


def test_grafana_under_a_path_prefix(serve: Any) -> None:
    fake = FakeGrafana(prefix="/grafana")
    push(serve(fake))
    assert fake.unexpected == []
    assert all(r.path.startswith("/grafana/api/") for r in fake.requests)


def test_cli_push_reports_and_fails_cleanly(serve: Any) -> None:
    fake = FakeGrafana()
    url = serve(fake)
    runner = CliRunner()
    args = ["dashboards", "push", "--url", url, "--prometheus-url", PROMETHEUS_URL]

    ok = runner.invoke(cli, [*args, "--token", TOKEN])
    assert ok.exit_code == 0, ok.output
    assert f"pushed to {url}:" in ok.stdout
    assert "created" in ok.stdout

    again = runner.invoke(cli, args, env={"CASHLESS_GRAFANA_TOKEN": TOKEN})
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.stdout

    refused = runner.invoke(cli, [*args, "--token", "wrong"])
    assert refused.exit_code == 1
    assert "error: the token was refused" in refused.stderr
    assert "Traceback" not in refused.output


def test_grafana_that_does_not_answer_times_out_clearly() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings = GrafanaSettings(
            grafana_url=url, grafana_token=SecretStr(TOKEN), grafana_timeout_seconds=0.3
        )
        with pytest.raises(PublishError, match=r"cannot reach Grafana .*: timed out"):
            Publisher(settings, say=lambda _: None).push({}, [])


def test_object_grafana_rejects_is_reported_with_grafana_message(serve: Any) -> None:
    fake = FakeGrafana()
    fake.folders["someone-elses"] = {
        "id": 1,
        "uid": "someone-elses",
        "title": FOLDER_TITLE,
        "version": 1,
    }
    with pytest.raises(
        PublishError,
        match=r"refused publishing the folder .*HTTP 409.*folder with the same name",
    ):
        push(serve(fake))
