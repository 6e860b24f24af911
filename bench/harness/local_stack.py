"""The local stack of one run, on free ports under its own directory, and its processes' env."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.harness.paths import CACHE
from bench.harness.processes import free_port
from cashless.settings import StackSettings

__all__ = ["KEY", "child_env", "stack_settings"]

KEY = "bench-pseudonym-key-0123456789abcdef"


def stack_settings(work: Path, **overrides: Any) -> StackSettings:
    """A local stack under `work/stack` on free ports, with the checkout's jar cache; the
    scrape targets are free ports too unless `overrides` name them."""
    settings: dict[str, Any] = {
        "worker_targets": f"127.0.0.1:{free_port()}",
        "gateway_targets": f"127.0.0.1:{free_port()}",
        **overrides,
    }
    return StackSettings(
        data_dir=work / "stack",
        cache_dir=CACHE,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        prometheus_port=free_port(),
        alertmanager_port=free_port(),
        **settings,
    )


def child_env(bootstrap: str, districts: Path | None = None) -> dict[str, str]:
    """The environment of a process of the run: this one's without its `CASHLESS_*` settings,
    pointed at the run's Kafka with the run's pseudonym key (and district table, if given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHLESS_")}
    env.update(
        CASHLESS_BOOTSTRAP_SERVERS=bootstrap,
        CASHLESS_PSEUDONYM_KEY=KEY,
        PYTHONUNBUFFERED="1",
    )
    if districts is not None:
        env["CASHLESS_DISTRICTS_FILE"] = str(districts)
    return env
