"""Free ports for test and benchmark stacks: below the ephemeral range, bindable, never twice."""

from __future__ import annotations

import socket

import pytest

from ops.stack import ports
from ops.stack.ports import free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    ephemeral_start = ports._ephemeral_start()
    given = [free_port() for _ in range(200)]
    assert len(set(given)) == len(given)
    assert all(10_000 <= port < ephemeral_start for port in given)
    for port in given[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.bind(("127.0.0.1", port))


def test_a_port_something_listens_on_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(ports, "_LOWEST", busy)
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: busy + 2)
        monkeypatch.setattr(ports, "_handed_out", set())
        assert free_port() == busy + 1
        with pytest.raises(OSError, match="no free TCP port"):
            free_port()
