"""The production nginx config (deploy/nginx) is valid and does what it says, run with Debian's nginx in
front of a small upstream that records what reaches it."""

import gzip
import http.client
import http.server
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scripts.nginx import check_config, nginx_proxy, render_site, write_config
from scripts.ports import free_port

from .conftest import Recorder, Upstream

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (make test installs it on Debian: scripts/ensure-nginx.sh)",
)


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def test_the_config_passes_nginx_t(tmp_path):
    config = write_config(tmp_path / "nginx", upstream="127.0.0.1:9", port=free_port(), static_root=tmp_path)
    checked = check_config(config)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_every_placeholder_is_filled():
    site = render_site(upstream="web:8000", listen="80", static_root=Path("/srv/static"))
    assert "${TICKETING" not in site
    assert "server web:8000;" in site and "listen 80 backlog=4096;" in site


def test_json_is_gzipped_and_request_ids_and_client_address_are_passed(proxied):
    port, upstream = proxied
    response, data = request(port, "GET", "/api/seats", headers={"Accept-Encoding": "gzip", "X-Request-ID": "rid-1"})
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "gzip"
    assert len(json.loads(gzip.decompress(data))["seats"]) == 200
    headers = upstream.seen[-1]["headers"]
    assert headers["X-Request-ID"] == "rid-1"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"

    request(port, "GET", "/api/seats")
    made = upstream.seen[-1]["headers"]["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0


def test_metrics_are_not_exposed(proxied):
    port, upstream = proxied
    before = len(upstream.seen)
    response, _ = request(port, "GET", "/metrics")
    assert response.status == 404
    assert len(upstream.seen) == before


def test_a_body_over_the_limit_is_refused_before_the_app(proxied):
    port, upstream = proxied
    before = len(upstream.seen)
    response, _ = request(
        port, "POST", "/api/reservations", body=b"x" * (300 * 1024), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert len(upstream.seen) == before
    ok, _ = request(port, "POST", "/api/reservations", body=b"{}", headers={"Content-Type": "application/json"})
    assert ok.status == 200


def test_a_request_line_or_header_over_8_kib_is_refused_by_nginx_in_the_api_shape(proxied):
    port, upstream = proxied
    before = len(upstream.seen)
    for path, headers, status, part in (
        ("/api/concerts?q=" + "x" * 9000, {}, 414, "request_line"),
        ("/api/concerts", {"X-Big": "y" * 9000}, 431, "headers"),
    ):
        response, data = request(port, "GET", path, headers=headers)
        assert response.status == status
        assert response.getheader("Content-Type") == "application/json"
        error = json.loads(data)["error"]
        assert error["code"] == "VALIDATION_ERROR" and part in error["details"]
    assert len(upstream.seen) == before
    ok, _ = request(port, "GET", "/api/concerts?q=" + "x" * 4000, headers={"X-Big": "y" * 6000})
    assert ok.status == 200


def test_static_files_are_served_by_nginx(proxied):
    port, upstream = proxied
    before = len(upstream.seen)
    response, data = request(port, "GET", "/static/app.css")
    assert response.status == 200
    assert data == b"body { color: black; }\n"
    assert response.getheader("Cache-Control") == "max-age=3600"
    assert len(upstream.seen) == before


def test_several_upstreams_get_a_server_line_each():
    site = render_site(upstream="127.0.0.1:8001,127.0.0.1:8002", listen="80", static_root=Path("/srv/static"))
    assert "    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n" in site


def test_the_crowd_is_the_main_upstream_unless_it_has_its_own():
    same = render_site(upstream="web:8000", listen="80", static_root=Path("/srv/static"))
    assert same.count("    server web:8000;") == 3  # the main, the crowd's and the push process's
    split = render_site(
        upstream="web:8000",
        listen="80",
        static_root=Path("/srv/static"),
        crowd_upstream="crowd:8000",
        push_upstream="push:8001",
    )
    assert split.count("    server web:8000;") == split.count("    server crowd:8000;") == 1
    assert split.count("    server push:8001;") == 1


def test_the_lines_event_stream_reaches_the_push_process_and_the_page_while_open():
    """/api/queue/events goes to the push upstream, and an event reaches the page while the stream is
    still open."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []
    release = threading.Event()

    def push_upstream() -> None:
        connection, _ = listener.accept()
        with connection:
            seen.append(connection.recv(65536))
            event = b'event: seats\ndata: {"a": 1}\n\n'
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + f"{len(event):x}\r\n".encode()
                + event
                + b"\r\n"
            )
            release.wait(10)  # the stream stays open until the page has read the event
            connection.sendall(b"0\r\n\r\n")

    threading.Thread(target=push_upstream, daemon=True).start()
    port = free_port()
    try:
        with nginx_proxy(upstream="127.0.0.1:9", port=port, push_upstream=f"127.0.0.1:{listener.getsockname()[1]}"):
            page = socket.create_connection(("127.0.0.1", port), timeout=5)
            page.sendall(b"GET /api/queue/events?concert_date_id=2 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            received = b""
            while b"data: " not in received:
                chunk = page.recv(65536)
                assert chunk, "the stream closed before its first event"
                received += chunk
            release.set()
            page.close()
    finally:
        release.set()
        listener.close()
    assert seen[0].startswith(b"GET /api/queue/events?concert_date_id=2 HTTP/1.1")
    assert b"200 OK" in received and b'data: {"a": 1}' in received


def test_the_lines_requests_go_to_the_crowds_workers():
    """What a buyer does before admission (logins, sign-ups, token refreshes, entries and status polls;
    leaving the line is the entry's path) reaches the crowd's upstream, with the same headers as
    everything else; holds, payments, the seat map and logout reach the main one."""
    web, crowd = Upstream(("127.0.0.1", 0), Recorder), Upstream(("127.0.0.1", 0), Recorder)
    for upstream in (web, crowd):
        upstream.seen = []
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    try:
        with nginx_proxy(
            upstream=f"127.0.0.1:{web.server_port}", port=port, crowd_upstream=f"127.0.0.1:{crowd.server_port}"
        ):
            request(port, "GET", "/api/queue/status?concert_id=1&concert_date_id=2", headers={"X-Request-ID": "p-1"})
            request(port, "POST", "/api/queue", body=b"{}", headers={"Content-Type": "application/json"})
            request(port, "POST", "/api/reservations", body=b"{}", headers={"Content-Type": "application/json"})
            request(port, "POST", "/api/payments", body=b"{}", headers={"Content-Type": "application/json"})
            request(port, "GET", "/api/concerts/1/dates/2/seat-status")
            for path in ("/api/auth/login", "/api/auth/signup", "/api/auth/refresh", "/api/auth/logout"):
                request(port, "POST", path, body=b"{}", headers={"Content-Type": "application/json"})
    finally:
        web.shutdown()
        crowd.shutdown()
    assert [seen["path"] for seen in crowd.seen] == [
        "/api/queue/status?concert_id=1&concert_date_id=2",
        "/api/queue",
        "/api/auth/login",
        "/api/auth/signup",
        "/api/auth/refresh",
    ]
    assert [seen["path"] for seen in web.seen] == [
        "/api/reservations",
        "/api/payments",
        "/api/concerts/1/dates/2/seat-status",
        "/api/auth/logout",
    ]
    poll = crowd.seen[0]["headers"]
    assert poll["X-Request-ID"] == "p-1" and poll["X-Forwarded-For"] == "127.0.0.1"
    assert poll["X-Request-Start"].startswith("t=")


def test_the_benchmarks_web_tier_behind_nginx_serves_the_app(tmp_path):
    """scripts/local_servers.web_tier(proxy="nginx"): the rush's `--proxy nginx`, gunicorn behind deploy/nginx."""
    import os

    from scripts.local_servers import web_tier

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketing.settings.test",
        "GUNICORN_ACCESS_LOG": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with web_tier(env, servers=2, workers=1, proxy="nginx") as base:
        port = int(base.rsplit(":", 1)[1])
        response, body = request(port, "GET", "/api/health/live", headers={"X-Request-ID": "through-nginx-1"})
        assert response.status == 200
        assert json.loads(body) == {"status": "ok"}
        assert response.getheader("X-Request-ID") == "through-nginx-1"
        metrics, _ = request(port, "GET", "/metrics")
        assert metrics.status == 404


def test_the_benchmarks_web_tier_sends_the_lines_streams_to_its_push_process(tmp_path):
    """web_tier(push_workers=1): scripts/push_server.py behind nginx answers the events path (a bad id:
    the push process's 400; Django would answer 404), and the rest still reaches Django."""
    import os

    from scripts.local_servers import web_tier

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketing.settings.test",
        "GUNICORN_ACCESS_LOG": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    with web_tier(env, workers=1, proxy="nginx", push_workers=1) as base:
        port = int(base.rsplit(":", 1)[1])
        response, body = request(port, "GET", "/api/queue/events?concert_date_id=abc")
        assert response.status == 400
        assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"
        live, _ = request(port, "GET", "/api/health/live")
        assert live.status == 200


def test_the_crowd_tier_as_deployed_serves_the_lines_requests_and_logs_their_ids(tmp_path):
    """web_tier(crowd_workers=1): scripts/crowd_server.py (Granian, as docker-compose runs it) answers
    what nginx sends the crowd upstream, with Django's own answers (a login's 400 in the error shape),
    and writes one JSON access line per request carrying the request id nginx passed on."""
    import os
    import uuid

    from scripts.local_servers import web_tier
    from scripts.ports import ROOT

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketing.settings.test",
        "GUNICORN_ACCESS_LOG": "",
        "CROWD_ACCESS_LOG": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    request_id = f"crowd-{uuid.uuid4().hex}"
    logs = ROOT / "bench" / "out" / "logs"
    with web_tier(env, workers=1, proxy="nginx", crowd_workers=1) as base:
        port = int(base.rsplit(":", 1)[1])
        response, body = request(
            port,
            "POST",
            "/api/auth/login",
            body=b"{",
            headers={"Content-Type": "application/json", "X-Request-ID": request_id},
        )
        assert response.status == 400
        assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"
        assert response.getheader("X-Request-ID") == request_id
        deadline = time.monotonic() + 5
        lines: list[dict] = []
        while not lines and time.monotonic() < deadline:  # Granian writes its access line after the answer
            lines = [
                json.loads(line)
                for log in logs.glob("crowd-*.log")
                for line in log.read_text(errors="replace").splitlines()
                if request_id in line
            ]
            time.sleep(0.1)
    assert len(lines) == 1
    assert lines[0]["request_id"] == request_id
    assert (lines[0]["method"], lines[0]["path"], lines[0]["status"]) == ("POST", "/api/auth/login", 400)


class SlowLogin(http.server.BaseHTTPRequestHandler):
    """An upstream whose logins hash until the test lets them go."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.arrived.release()
        self.server.go.wait(10)
        body = b'{"access": "a", "refresh": "r"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def login_burst(port: int, count: int) -> list[tuple[Any, bytes]]:
    body = json.dumps({"email": "a@example.com", "password": "x"})
    answers: list[tuple[Any, bytes]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(request(port, "POST", "/api/auth/login", body)))
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return answers


def test_a_burst_of_logins_waits_in_nginx_and_every_one_is_served():
    """Eight logins at once (one hashing slot on this host): nginx lets them through about ten a second,
    in order, and none is refused."""
    upstream = Upstream(("127.0.0.1", 0), SlowLogin)
    upstream.arrived, upstream.go = threading.Semaphore(0), threading.Event()
    upstream.go.set()  # each login answers at once; the pacing is nginx's
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    try:
        with nginx_proxy(upstream=f"127.0.0.1:{upstream.server_port}", port=port):
            started = time.monotonic()
            answers = login_burst(port, 8)
            took = time.monotonic() - started
    finally:
        upstream.shutdown()
    assert [r.status for r, _ in answers] == [200] * 8
    assert took >= 0.5  # paced by the proxy (7 intervals of 100 ms), not all let through at once


def test_a_flood_of_logins_beyond_the_queue_is_refused_by_nginx_in_the_api_shape():
    upstream = Upstream(("127.0.0.1", 0), SlowLogin)
    upstream.arrived, upstream.go = threading.Semaphore(0), threading.Event()
    upstream.go.set()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    try:
        with nginx_proxy(upstream=f"127.0.0.1:{upstream.server_port}", port=port):
            answers = login_burst(port, 70)  # one passes, 50 wait, the rest are refused
    finally:
        upstream.shutdown()
    refused = [(r, data) for r, data in answers if r.status == 429]
    assert len(answers) == 70 and len(refused) >= 10
    assert all(r.status in (200, 429) for r, _ in answers)
    response, data = refused[0]
    assert response.getheader("Retry-After") == "1"
    assert json.loads(data)["error"]["code"] == "THROTTLED"


@pytest.mark.parametrize("path", ["/api/payments", "/api/queue/status", "/api/auth/login"])
def test_no_worker_answering_is_a_503_in_the_api_shape_with_retry_after(tmp_path, path):
    """A web worker killed mid-request (or none listening) is nginx's own 502: buyers get the API's 503
    SERVICE_UNAVAILABLE with Retry-After, on every route (the login route has error pages of its own)."""
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    with nginx_proxy(upstream=dead, port=free_port(), static_root=tmp_path, workdir=tmp_path / "nginx") as base:
        port = int(base.rsplit(":", 1)[1])
        response, data = request(port, "POST", path, body=b"{}", headers={"Content-Type": "application/json"})
    assert response.status == 503
    assert response.getheader("Retry-After") == "2"
    assert response.getheader("Content-Type") == "application/json"
    assert len(response.getheader("X-Request-ID")) == 32
    assert json.loads(data)["error"]["code"] == "SERVICE_UNAVAILABLE"
