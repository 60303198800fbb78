"""The per-request time limit for servers without one (ticketing/watchdog.py): a request running past
it ends the worker process, which the server replaces; every other request passes untouched."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scripts.ports import free_port, wait_for_port
from ticketing.watchdog import EXIT_STATUS, RequestWatchdog

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watched(app, clock: Clock, ended: list[int], timeout: float = 30.0) -> RequestWatchdog:
    watchdog = RequestWatchdog(app, timeout=timeout, clock=clock, end_process=ended.append)
    watchdog._watching_pid = __import__("os").getpid()  # no thread: the test calls check() itself
    return watchdog


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_a_request_within_the_limit_passes_through_and_stops_counting_when_closed():
    clock, ended = Clock(), []
    watchdog = watched(hello, clock, ended)
    answer = watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/a"}, lambda *args: None)
    assert list(answer) == [b"hello"]
    clock.now += 29
    assert watchdog.check() is False
    answer.close()
    assert watchdog.running == {}
    clock.now += 3600
    assert watchdog.check() is False
    assert ended == []


def test_a_request_over_the_limit_ends_the_process_and_says_which(caplog):
    clock, ended = Clock(), []
    watchdog = watched(hello, clock, ended)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/reservations", "HTTP_X_REQUEST_ID": "req-1"}
    answer = watchdog(environ, lambda *args: None)
    clock.now += 30
    assert watchdog.check() is False  # at the limit, not over it
    clock.now += 0.5
    with caplog.at_level(logging.CRITICAL, logger="ticketing.watchdog"):
        assert watchdog.check() is True
    assert ended == [EXIT_STATUS]
    (record,) = caplog.records
    assert "30.5 s, over the 30 s limit" in record.getMessage()
    assert (record.method, record.path, record.stuck_request_id) == ("POST", "/api/reservations", "req-1")
    answer.close()


def test_a_request_that_raises_stops_counting():
    def broken(environ, start_response):
        raise RuntimeError("boom")

    clock, ended = Clock(), []
    watchdog = watched(broken, clock, ended)
    with pytest.raises(RuntimeError):
        watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *args: None)
    clock.now += 3600
    assert watchdog.running == {}
    assert watchdog.check() is False


def test_the_answer_is_closed_when_the_server_closes_it():
    closed = []

    class Answer(list):
        def close(self) -> None:
            closed.append(True)

    def app(environ, start_response):
        return Answer([b"x"])

    watchdog = watched(app, Clock(), [])
    watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *args: None).close()
    assert closed == [True]


def test_a_limit_of_zero_watches_nothing():
    clock, ended = Clock(), []
    watchdog = RequestWatchdog(hello, timeout=0, clock=clock, end_process=ended.append)
    assert watchdog({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *args: None) == [b"hello"]
    assert watchdog.running == {} and watchdog._watching_pid is None


def test_the_crowd_tier_serves_the_application_behind_the_watchdog():
    from scripts import crowd_server
    from ticketing import wsgi

    module, name = crowd_server.APPLICATION.split(":")
    assert (module, name) == ("ticketing.wsgi", "watched_application")
    assert isinstance(wsgi.watched_application, RequestWatchdog)
    assert wsgi.watched_application.application is wsgi.application
    assert wsgi.watched_application.timeout == 30  # gunicorn.conf.py's default `timeout`


def get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


def test_under_granian_a_stuck_request_ends_its_worker_and_a_new_one_serves_the_next(tmp_path):
    """One Granian worker of one thread, as the crowd tier runs them: a stuck request would take it for
    good; with the watchdog the worker ends after the limit and Granian starts another."""
    port = free_port()
    log = open(tmp_path / "granian.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "granian"), "--interface", "wsgi", "tests.ops.stuck_wsgi:application",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--blocking-threads", "1",
         "--respawn-failed-workers", "--respawn-interval", "0.2", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port(port, process, what="granian")
        base = f"http://127.0.0.1:{port}"
        first = get(f"{base}/pid", timeout=10)
        started = time.monotonic()
        with pytest.raises((urllib.error.URLError, ConnectionError, TimeoutError)):
            get(f"{base}/stuck", timeout=20)
        assert time.monotonic() - started < 15  # ended by the watchdog, not by the client's timeout
        deadline, second = time.monotonic() + 20, None
        while second is None and time.monotonic() < deadline:
            try:
                second = get(f"{base}/pid", timeout=5)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        assert second is not None and second != first
        assert process.poll() is None  # the server itself lives on
    finally:
        process.terminate()
        process.wait(20)
        log.close()
    assert "over the 1 s limit" in (tmp_path / "granian.log").read_text()
