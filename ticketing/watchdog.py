"""A per-request time limit for WSGI servers that have none (Granian: scripts/crowd_server.py).

gunicorn's `timeout` kills a worker whose request has run too long and starts a new one: a request
stuck on a dead dependency (a MariaDB read has no timeout of its own) costs one worker for a while,
not for good. Granian has no such limit, and nginx's `proxy_read_timeout` only gives up on the answer:
the worker stays stuck, and a tier of a few one-thread workers is gone after a few stuck requests.

`RequestWatchdog` wraps the application. It notes when each request starts (per thread) and a daemon
thread, started in each worker process on its first request, looks once a second; a request running
longer than `timeout` seconds is logged (method, path, request id, seconds) and ends the process with
exit status 1, which the server sees as a failed worker and replaces (Granian's
`respawn_failed_workers`). Like gunicorn's, the limit is per worker process: the other requests the
process was serving end with it (one thread per process here, so none). A request counts until its
answer's iterable is closed, so a slow body counts too.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

EXIT_STATUS = 1


class _Watched:
    """The application's answer, passed through; the request stops counting when it is closed."""

    def __init__(self, answer: Iterable[bytes], done: Callable[[], None]) -> None:
        self._answer = answer
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._answer)

    def close(self) -> None:
        try:
            close = getattr(self._answer, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class RequestWatchdog:
    def __init__(
        self,
        application: Callable[..., Iterable[bytes]],
        *,
        timeout: float,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        end_process: Callable[[int], Any] = os._exit,
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.interval = interval
        self.clock = clock
        self.end_process = end_process
        # thread id -> (started, method, path, request id) of the request the thread is serving
        self.running: dict[int, tuple[float, str, str, str]] = {}
        self._lock = threading.Lock()
        self._watching_pid: int | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.timeout <= 0:
            return self.application(environ, start_response)
        self._watch_this_process()
        thread = threading.get_ident()
        self.running[thread] = (
            self.clock(),
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            environ.get("HTTP_X_REQUEST_ID", ""),
        )

        def done() -> None:
            self.running.pop(thread, None)

        try:
            answer = self.application(environ, start_response)
        except BaseException:
            done()
            raise
        return _Watched(answer, done)

    def overdue(self) -> list[tuple[float, str, str, str]]:
        """The requests running longer than the limit: (seconds, method, path, request id)."""
        now = self.clock()
        return [
            (now - started, method, path, request_id)
            for started, method, path, request_id in list(self.running.values())
            if now - started > self.timeout
        ]

    def check(self) -> bool:
        """End the process if a request has run past the limit; True if it did (or asked to)."""
        late = self.overdue()
        if not late:
            return False
        for seconds, method, path, request_id in late:
            logger.critical(
                "request ran %.1f s, over the %g s limit: ending worker %s (the server starts another)",
                seconds,
                self.timeout,
                os.getpid(),
                extra={"method": method, "path": path, "stuck_request_id": request_id},
            )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        self.end_process(EXIT_STATUS)
        return True

    def _watch_this_process(self) -> None:
        pid = os.getpid()
        if self._watching_pid == pid:
            return
        with self._lock:
            if self._watching_pid == pid:
                return
            self._watching_pid = pid
            self.running.clear()  # a forked copy's: the parent's threads are not here
            threading.Thread(target=self._watch, name="request-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                if self.check():
                    return
            except Exception:  # the watchdog must never die of a log formatting error
                logger.exception("request watchdog check failed")
