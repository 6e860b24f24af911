"""The local stack through its command line: up, status, idempotence, clear errors, down --purge."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ops.stack.ports import free_port
from tests.conftest import JAR_CACHE, stack_settings

pytestmark = pytest.mark.integration
CASHLESS = [sys.executable, "-m", "cli"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        CASHLESS + args, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def stack_env(data_dir: Path) -> dict[str, str]:
    settings = stack_settings(data_dir)
    env = dict(os.environ)
    env.update(
        CASHLESS_DATA_DIR=str(data_dir),
        CASHLESS_CACHE_DIR=str(JAR_CACHE),
        CASHLESS_KAFKA_PORT=str(settings.kafka_port),
        CASHLESS_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
        CASHLESS_PROMETHEUS_PORT=str(settings.prometheus_port),
        CASHLESS_ALERTMANAGER_PORT=str(settings.alertmanager_port),
    )
    return env


def pids_of(data_dir: Path) -> list[int]:
    return [int(p.read_text()) for p in data_dir.glob("*/*.pid")]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_status_idempotent_down_purge(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    env = stack_env(data_dir)

    first = run(["stack", "up"], env)
    assert first.returncode == 0, first.stderr
    for name in ("kafka", "prometheus", "alertmanager"):
        assert name in first.stdout
        assert "ready" in first.stdout
    pids = pids_of(data_dir)
    assert len(pids) == 3
    assert all(alive(p) for p in pids)

    status = run(["stack", "status"], env)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("ready") == 3

    again = run(["stack", "up"], env)
    assert again.returncode == 0, again.stderr
    assert sorted(pids_of(data_dir)) == sorted(pids), "a second `up` must not start new servers"

    down = run(["stack", "down", "--purge"], env)
    assert down.returncode == 0, down.stderr
    assert not any(alive(p) for p in pids)
    assert not data_dir.exists()

    after = run(["stack", "status"], env)
    assert after.returncode == 3
    assert after.stdout.count("stopped") == 3


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env["CASHLESS_PROMETHEUS_PORT"] = str(squatter.getsockname()[1])
        result = run(["stack", "up"], env)
    assert result.returncode == 1
    assert "is in use by another process" in result.stderr
    assert "Traceback" not in result.stderr
    assert not pids_of(tmp_path / "state"), "nothing may be started when a port is taken"


def test_missing_java_is_a_clear_error(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "state")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("prometheus", "prometheus-alertmanager", "mvn"):
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    env["PATH"] = str(bin_dir)
    result = run(["stack", "up"], env)
    assert result.returncode == 1
    assert "Java is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_purge_refuses_a_directory_the_stack_did_not_create(tmp_path: Path) -> None:
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("do not delete")
    env = stack_env(foreign)
    result = run(["stack", "down", "--purge"], env)
    assert result.returncode == 1
    assert "refusing to purge" in result.stderr
    assert (foreign / "thesis.txt").exists()


def test_bad_port_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "state")
    env["CASHLESS_KAFKA_PORT"] = "99999"
    result = run(["stack", "status"], env)
    assert result.returncode == 2  # a setting it cannot use: usage
    assert "kafka_port" in result.stderr
    assert "Traceback" not in result.stderr


def test_free_port_helper_gives_distinct_ports() -> None:
    assert len({free_port() for _ in range(5)}) == 5


def test_a_cluster_id_starting_with_a_dash_formats(tmp_path: Path) -> None:
    """Kafka's storage tool read "-t -x…" as two flags; one id in 64 starts with "-"."""
    from ops.stack import Stack

    stack = Stack(stack_settings(tmp_path))
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "cluster.id").write_text("-x2s9AAAAAAAAAAAAAAAAA")
    stack.fetch_kafka()
    stack._prepare_kafka()
    assert (
        "cluster.id=-x2s9AAAAAAAAAAAAAAAAA"
        in (tmp_path / "kafka" / "data" / "meta.properties").read_text()
    )
