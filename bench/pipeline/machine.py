"""What a run of `make bench` ran on: the machine, the versions of what it measured, the commit."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.harness.paths import ROOT
from ops.stack import KAFKA_VERSION

__all__ = ["git_state", "machine", "peer_version"]


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mhz = re.findall(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu_model": models[0] if models else platform.processor(),
        "logical_cpus": os.cpu_count(),
        "cpu_mhz": float(mhz[0]) if mhz else None,
        "memory_gib": round(int(memory.group(1)) / 1024**2, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": KAFKA_VERSION,
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "kafka_python": version("kafka-python"),
        "cashless_kernel": version("cashless-kernel"),
    }


def peer_version(peer_python: Path | None) -> str | None:
    if peer_python is None or not peer_python.exists():
        return None
    done = subprocess.run(
        [str(peer_python), "-c", "import quixstreams; print(quixstreams.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
