"""Run the Procfile's processes and keep them running: the process manager of `make run`.

honcho (like foreman) stops every process when one exits, so a crashed Celery worker took the web
server and beat down with it. Here a process that exits is started again after a pause that doubles
while it keeps dying young (1 s, 2 s, 4 s … at most 30 s), and the others never notice. Ctrl-C or
SIGTERM stops them all: SIGTERM to each process group, SIGKILL to whatever is left after a grace time.

Standard library only: `make run` starts it before anything else is known to work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def read_procfile(path: Path) -> dict[str, str]:
    """`name: command` lines, in order; blank lines and comments skipped."""
    commands: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        commands[name.strip()] = command.strip()
    return commands


@dataclass
class Process:
    name: str
    command: str
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    pause: float = 0.0
    restart_at: float | None = None
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        out: IO[str] | None = None,
        min_pause: float = 1.0,
        max_pause: float = 30.0,
        stable_after: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        self.processes = {name: Process(name, command, pause=min_pause) for name, command in commands.items()}
        self.env = dict(env if env is not None else os.environ)
        self.cwd = cwd
        self.out = out or sys.stdout
        self.min_pause, self.max_pause, self.stable_after, self.grace = min_pause, max_pause, stable_after, grace
        self.width = max(len(name) for name in self.processes)
        self._write_lock = threading.Lock()

    def log(self, name: str, line: str) -> None:
        with self._write_lock:
            self.out.write(f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.log(name, line)

    def _spawn(self, process: Process) -> None:
        # Its own session: a terminal's Ctrl-C reaches only this supervisor, which stops the children in
        # order; and a process's whole group (a shell and its command, Celery's pool) is signalled at once.
        process.popen = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {process.command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        process.started_at = time.monotonic()
        process.restart_at = None
        reader = threading.Thread(target=self._pump, args=(process.name, process.popen.stdout), daemon=True)
        reader.start()
        process.readers = [reader]
        self.log(process.name, f"started with pid {process.popen.pid}")

    def start(self) -> None:
        for process in self.processes.values():
            self._spawn(process)

    def check(self) -> None:
        """Notice exits and restart the processes whose pause is over."""
        now = time.monotonic()
        for process in self.processes.values():
            if process.restart_at is not None:
                if now >= process.restart_at:
                    process.restarts += 1
                    self._spawn(process)
                continue
            if process.popen is None or process.popen.poll() is None:
                continue
            lived = now - process.started_at
            process.pause = self.min_pause if lived >= self.stable_after else process.pause
            self.log(
                process.name,
                f"exited with code {process.popen.returncode} after {lived:.1f} s; "
                f"restarting in {process.pause:g} s (the other processes keep running)",
            )
            process.restart_at = now + process.pause
            process.pause = min(self.max_pause, process.pause * 2)

    def run(self, stop: threading.Event, poll: float = 0.2) -> None:
        """Start everything, keep it running until `stop` is set, then stop everything."""
        self.start()
        try:
            while not stop.wait(poll):
                self.check()
        finally:
            self.stop()

    def stop(self) -> None:
        running = [process for process in self.processes.values() if process.running()]
        for process in running:
            self._signal(process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in running:
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(process.name, f"did not stop within {self.grace:g} s; killing it")
                self._signal(process, signal.SIGKILL)
                process.popen.wait()
        for process in self.processes.values():
            for reader in process.readers:
                reader.join(timeout=2)

    @staticmethod
    def _signal(process: Process, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signum)


def supervise(procfile: Path, *, env: Mapping[str, str], cwd: Path) -> int:
    """Run the Procfile until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    Supervisor(read_procfile(procfile), env=env, cwd=cwd).run(stop)
    return 0
