"""Loopback ports for local servers: a free one, waiting until a process listens on one, and the open
files a process serving many connections needs."""

from __future__ import annotations

import resource
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, *, what: str, seconds: float = 20) -> None:
    """Return once something accepts connections on the loopback `port`; fail if `process` exits
    first or nothing listens within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process.poll() is not None:
                said = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise RuntimeError(f"{what} exited{': ' + said if said else ''}") from None
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {seconds:.0f} s")


def raise_open_files_limit() -> int:
    """Lift this process's (and so its children's) soft limit on open files to the hard limit: every
    connection is an open file (a buyer's socket, nginx's two, a waiting page's stream). Returns the
    limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        soft = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft
