"""The stack's Prometheus and Alertmanager: configuration, command lines, readiness."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import yaml

from cashless.settings import StackSettings
from ops.stack.config_files import ALERTMANAGER_YML, PROMETHEUS_RULES_DIR, PROMETHEUS_YML
from ops.stack.errors import StackError

__all__ = [
    "alertmanager_command",
    "check_binaries",
    "http_ready",
    "local_prometheus_config",
    "prepare_prometheus",
    "prometheus_command",
]

_BINARIES = ("prometheus", "prometheus-alertmanager")


def check_binaries() -> None:
    """Raise unless both Debian packages' programs are on the PATH."""
    for binary in _BINARIES:
        if shutil.which(binary) is None:
            raise StackError(
                f"{binary} is not installed; run `make install` "
                "(Debian packages prometheus and prometheus-alertmanager)"
            )


def local_prometheus_config(settings: StackSettings) -> dict[str, object]:
    """The compose Prometheus config, rewritten for 127.0.0.1 and the stack's ports."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text("utf-8"))
    config["rule_files"] = [str(PROMETHEUS_RULES_DIR / "*.yml")]
    config["alerting"] = {
        "alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]}
        ]
    }
    targets = {
        "cashless-worker": settings.worker_targets,
        "cashless-gateway": settings.gateway_targets,
        "prometheus": f"127.0.0.1:{settings.prometheus_port}",
    }
    for job in config["scrape_configs"]:
        listed = [t.strip() for t in targets[job["job_name"]].split(",") if t.strip()]
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": listed}]
    if settings.scrape_interval is not None:
        config["global"]["scrape_interval"] = settings.scrape_interval
        config["global"]["evaluation_interval"] = settings.scrape_interval
    return config


def prepare_prometheus(settings: StackSettings, directory: Path) -> None:
    """Write the stack's prometheus.yml into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    config = local_prometheus_config(settings)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")


def prometheus_command(settings: StackSettings, directory: Path) -> list[str]:
    return [
        "prometheus",
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
        "--web.enable-lifecycle",
        # After a restart Prometheus restores the `for:` clock only of alerts whose `for:` is at
        # least this grace period (default 10m). Below it, a firing CashlessWorkerDown (2m)
        # went back to pending (tests/integration/test_faults.py); one with `for: 5m` would
        # outlast the ~4 minutes Alertmanager keeps an alert that is not re-sent, and be
        # resolved and notified again: a flap.
        "--rules.alert.for-grace-period=1m",
        "--log.level=warn",
    ]


def alertmanager_command(settings: StackSettings, directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        "prometheus-alertmanager",
        f"--config.file={ALERTMANAGER_YML}",
        f"--storage.path={directory}",
        f"--web.listen-address=127.0.0.1:{settings.alertmanager_port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


def http_ready(port: int) -> bool:
    """True when the server on `port` answers its `/-/ready` with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
