"""The stack's server processes: started detached, tracked by pid file, stopped by pid.

Each component `name` has `<data_dir>/<name>/<name>.pid` and its output in `<name>.out`. A pid
file whose process is gone, or whose command line does not name the data directory, is stale.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ops.stack.errors import StackError

__all__ = ["Supervisor", "check_port_free"]

_STOP_GRACE_SECONDS = 30.0

logger = logging.getLogger(__name__)


class Supervisor:
    """Starts, finds and stops the processes of the stack under one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # The processes this object started; see running.
        self._spawned: dict[str, subprocess.Popen[bytes]] = {}

    def output(self, name: str) -> Path:
        """Where the process's stdout and stderr go."""
        return self.data_dir / name / f"{name}.out"

    def pid(self, name: str) -> int | None:
        """The pid of our running process for `name`, or None (a stale pid file is ignored)."""
        try:
            pid = int(self._pid_file(name).read_text("utf-8").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if str(self.data_dir).encode() not in cmdline:
            return None
        return pid if _alive(pid) else None

    def spawn(self, name: str, command: list[str]) -> None:
        """Start `command` in its own session, in `<data_dir>/<name>`, and write its pid file."""
        directory = self.data_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        with open(self.output(name), "ab") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=directory,
                start_new_session=True,
            )
        self._pid_file(name).write_text(str(process.pid), "utf-8")
        self._spawned[name] = process

    def running(self, name: str) -> bool:
        """Whether the component's process is alive.

        A process this object has just started is asked directly: while it is still being
        exec'd, /proc/<pid>/cmdline reads empty, so `pid` would take it for a stale pid (seen
        when Kafka alone was restarted: the first check then follows the spawn at once).
        """
        process = self._spawned.get(name)
        if process is not None:
            return process.poll() is None
        return self.pid(name) is not None

    def stop(self, name: str, progress: Callable[[str], None] = logger.info) -> None:
        """Stop our process for `name`, if there is one, and forget its pid file."""
        pid = self.pid(name)
        if pid is not None:
            progress(f"stopping {name} (pid {pid})")
            _stop(pid)
        self._pid_file(name).unlink(missing_ok=True)
        process = self._spawned.pop(name, None)
        if process is not None:
            process.poll()  # reap it

    def tail(self, name: str, lines: int = 20) -> str:
        """The last lines of the process's output."""
        try:
            text = self.output(name).read_text("utf-8", errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    def _pid_file(self, name: str) -> Path:
        return self.data_dir / name / f"{name}.pid"


def check_port_free(name: str, port: int) -> None:
    """Raise unless `port` on 127.0.0.1 can be listened on by component `name`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # A port left in TIME_WAIT by our own stopped server is free to listen on again.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(
                f"port {port} on 127.0.0.1 is in use by another process, so "
                f"{name} cannot start; stop that process or choose another port "
                f"(--{name}-port)"
            ) from None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(pid: int) -> None:
    """SIGTERM to the process group; SIGKILL when it outlives the grace period."""
    if _signal_and_wait(pid, signal.SIGTERM, _STOP_GRACE_SECONDS):
        return
    logger.warning("pid %d did not stop within %.0f s; killing it", pid, _STOP_GRACE_SECONDS)
    _signal_and_wait(pid, signal.SIGKILL, 5.0)


def _signal_and_wait(pid: int, sig: signal.Signals, seconds: float) -> bool:
    """Send `sig` to the process group of `pid`; True once it is gone, within `seconds`."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return True
    return any(not _alive(pid) for _ in _until(seconds))


def _until(seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(0.1)
