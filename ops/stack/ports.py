"""Free ports for stacks started by tests and benchmarks: outside the kernel's ephemeral range.

A port found by binding port 0 comes from the ephemeral range, the same range the kernel gives
every outgoing connection its local port from. Between the moment such a port is found and the
moment a server binds it, any client connection (and a test session opens hundreds to Kafka) may
take it, and the server fails with "Address already in use". Ports below the ephemeral range are
never given to outgoing connections, so a port found free there stays free until something
listens on it; within one process, no port is handed out twice.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses now, below the ephemeral range."""
    candidates = list(range(_LOWEST, _ephemeral_start()))
    random.shuffle(candidates)
    for port in candidates:
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise OSError(f"no free TCP port on 127.0.0.1 between {_LOWEST} and the ephemeral range")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
