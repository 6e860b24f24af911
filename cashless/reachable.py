"""Whether Kafka answers at all, told in one line and within seconds.

Kafka clients retry an unreachable bootstrap server for half a minute and log each attempt;
a command about to read or write Kafka asks first whether any bootstrap server accepts a TCP
connection, so that a wrong address or a stopped broker is one line, soon.
"""

from __future__ import annotations

import socket

from cashless.errors import CashlessError

__all__ = ["PROBE_SECONDS", "require_reachable"]

PROBE_SECONDS = 5.0


def require_reachable(bootstrap_servers: str, timeout: float = PROBE_SECONDS) -> None:
    """Return when one of the `host:port` servers accepts a connection, else `CashlessError`."""
    problems = []
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
                return
        except ValueError:
            problems.append(f"{server}: not host:port")
        except OSError as exc:
            problems.append(f"{server}: {exc.strerror or exc}")
    raise CashlessError(f"cannot reach Kafka ({'; '.join(problems) or 'no bootstrap server'})")
