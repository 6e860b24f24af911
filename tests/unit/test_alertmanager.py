"""Alertmanager config: amtool's checks, routing of every alert the rules define, inhibition."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from ops.stack.ports import free_port
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "ops" / "alertmanager" / "alertmanager.yml"
RULES_DIR = ROOT / "ops" / "prometheus" / "rules"

# Where each kind of alert must be heard (the table at the top of alertmanager.yml).
RECEIVER_BY_SEVERITY = {"critical": "city-pager", "info": "city-digest"}
RECEIVER_FOR_ADOPTION_WARNINGS = "city-programme"
DEFAULT_RECEIVER = "city-ops"
T = TypeVar("T")


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text("utf-8"))
    return loaded


def rule_alerts() -> dict[str, dict[str, str]]:
    """Every alert of the Prometheus rules, with its static labels."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = dict(rule.get("labels", {}))
    return found


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary is not None, "amtool is installed with the Debian prometheus-alertmanager package"
    return subprocess.run(
        [binary, *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def route(config_file: Path, labels: dict[str, str]) -> str:
    """The receiver(s) amtool resolves for an alert with `labels`."""
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config_file}",
        *(f"{name}={value}" for name, value in sorted(labels.items())),
    )
    assert result.returncode == 0, _output(result)
    return result.stdout.strip()


def test_amtool_accepts_the_config() -> None:
    result = amtool("check-config", CONFIG)
    assert result.returncode == 0, _output(result)
    assert "SUCCESS" in result.stdout, _output(result)


def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text("utf-8").replace("receiver: city-pager", "receiver: nobody"))
    assert amtool("check-config", broken).returncode != 0


def _expected_receiver(labels: dict[str, str]) -> str:
    severity = labels.get("severity", "")
    if severity in RECEIVER_BY_SEVERITY:
        return RECEIVER_BY_SEVERITY[severity]
    if labels.get("area") == "adoption":
        return RECEIVER_FOR_ADOPTION_WARNINGS
    return DEFAULT_RECEIVER


@pytest.mark.parametrize("alertname", sorted(rule_alerts()))
def test_every_alert_of_the_rules_reaches_its_receiver(alertname: str) -> None:
    labels = {"alertname": alertname, **rule_alerts()[alertname]}
    assert route(CONFIG, labels) == _expected_receiver(labels)


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "CashlessWorkerDown", "severity": "critical"}, "city-pager"),
        ({"alertname": "CashlessSourceSilent", "severity": "warning", "source": "x"}, "city-ops"),
        (
            {"alertname": "CashlessBelowGoal", "severity": "warning", "area": "adoption"},
            "city-programme",
        ),
        (
            {
                "alertname": "CashlessCityAccountCoverageBelowGoal",
                "severity": "info",
                "area": "adoption",
            },
            "city-digest",
        ),
        ({"alertname": "SomethingElse"}, "city-ops"),
    ],
)
def test_routing_by_severity_and_area(labels: dict[str, str], receiver: str) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={receiver}",
        *(f"{name}={value}" for name, value in labels.items()),
    )
    assert result.returncode == 0, _output(result)


def _route_named(receiver: str) -> dict[str, Any]:
    return next(r for r in config()["route"]["routes"] if r["receiver"] == receiver)


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


def test_pages_repeat_sooner_and_digests_later_than_warnings() -> None:
    root = _seconds(config()["route"]["repeat_interval"])
    assert _seconds(_route_named("city-pager")["repeat_interval"]) < root
    assert _seconds(_route_named("city-digest")["repeat_interval"]) >= 24 * 3600


def test_every_receiver_delivers_somewhere() -> None:
    for receiver in config()["receivers"]:
        urls = [hook["url"] for hook in receiver.get("webhook_configs", [])]
        assert urls or receiver.get("email_configs"), f"{receiver['name']} is a black hole"
        assert all(re.match(r"https?://", url) for url in urls), urls


def test_the_commented_email_example_is_valid(tmp_path: Path) -> None:
    lines = CONFIG.read_text("utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# email_configs:")
    example = []
    for line in lines[start:]:
        if not line.strip().startswith("#"):
            break
        example.append(line.replace("# ", "", 1))
    with_email = tmp_path / "alertmanager.yml"
    password = tmp_path / "smtp-password"
    password.write_text("not-a-secret\n")
    text = "\n".join(lines[:start] + example) + "\n"
    with_email.write_text(text.replace("/etc/alertmanager/smtp-password", str(password)))
    result = amtool("check-config", with_email)
    assert result.returncode == 0, _output(result)
    digest = next(r for r in yaml.safe_load(text)["receivers"] if r["name"] == "city-digest")
    assert digest["email_configs"][0]["to"].endswith("@hanoi.example")


def _inhibition(source: str, target: str) -> dict[str, Any]:
    for rule in config()["inhibit_rules"]:
        if rule["source_matchers"] == [f'alertname="{source}"']:
            targets = " ".join(rule["target_matchers"])
            if target in targets:
                return dict(rule)
    raise AssertionError(f"no inhibition of {target} by {source}")


def test_stalled_inhibits_below_goal_for_the_same_segment() -> None:
    rule = _inhibition("CashlessAdoptionStalled", "CashlessBelowGoal")
    assert rule["target_matchers"] == ['alertname="CashlessBelowGoal"']
    assert set(rule["equal"]) == {"channel", "segment"}


def test_worker_down_and_no_metrics_inhibit_their_consequences() -> None:
    assert _inhibition("CashlessWorkerDown", "CashlessSourceSilent")["equal"] == ["job"]
    assert _inhibition("CashlessNoMetrics", "warning")["equal"] == ["job"]


def test_routes_and_inhibitions_name_only_alerts_that_exist() -> None:
    text = CONFIG.read_text("utf-8")
    named = set(re.findall(r"\bCashless[A-Za-z]+", text))
    assert named <= set(rule_alerts()), named - set(rule_alerts())


# -- inhibition in a real Alertmanager -----------------------------------------------------------


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """The real Alertmanager with this config, on a free port; its webhooks lead nowhere."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary is not None, "the Debian package prometheus-alertmanager is installed"
    nowhere = f"http://127.0.0.1:{free_port()}/"
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(
        CONFIG.read_text("utf-8").replace("http://127.0.0.1:9099/", nowhere), "utf-8"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "alertmanager.out", "wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _ready(url, process), timeout=30, what="Alertmanager ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, f"Alertmanager exited with {process.returncode}"
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alert(alertname: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": alertname, "job": "cashless-worker", **labels},
        "annotations": {"summary": alertname},
    }


def _states(url: str) -> dict[tuple[str, str], str]:
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {
        (a["labels"]["alertname"], a["labels"].get("segment") or a["labels"].get("source", "")): a[
            "status"
        ]["state"]
        for a in alerts
    }


def test_a_real_alertmanager_inhibits_as_configured(alertmanager: str) -> None:
    adoption = {"severity": "warning", "area": "adoption", "channel": "market"}
    pipeline = {"severity": "warning", "area": "pipeline"}
    alerts = [
        _alert("CashlessAdoptionStalled", segment="dong-xuan", **adoption),
        _alert("CashlessBelowGoal", segment="dong-xuan", **adoption),
        _alert("CashlessBelowGoal", segment="hom", **adoption),
        _alert("CashlessWorkerDown", instance="w1:6066", severity="critical", area="pipeline"),
        _alert("CashlessSourceSilent", source="hawaco", **pipeline),
        _alert("CashlessRejectionRateHigh", **pipeline),
    ]
    response = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text
    expected = {
        ("CashlessAdoptionStalled", "dong-xuan"): "active",
        ("CashlessBelowGoal", "dong-xuan"): "suppressed",
        ("CashlessBelowGoal", "hom"): "active",
        ("CashlessWorkerDown", ""): "active",
        ("CashlessSourceSilent", "hawaco"): "suppressed",
        ("CashlessRejectionRateHigh", ""): "active",
    }
    assert _eventually(lambda: _states(alertmanager), expected) == expected


def _eventually(read: Callable[[], T], expected: T, timeout: float = 10.0) -> T:
    """What `read` returns once it returns `expected`, or at the deadline (for the diff)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
