"""Fixtures of the operations tests: JSON log capture, the compose file, an open /metrics, nginx in
front of a recording upstream."""

import http.client
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml
from django.test import override_settings

from scripts.nginx import nginx_proxy
from scripts.ports import free_port, wait_for_port
from tests.helpers import json_lines

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log():
    with json_lines() as lines:
        yield lines


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture
def metrics_client(api_client):
    with override_settings(METRICS_OPEN=True, METRICS_TOKEN=""):
        yield api_client


class Upstream(http.server.ThreadingHTTPServer):
    seen: list[dict]


class Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        body = json.dumps({"seats": [{"id": i, "status": "AVAILABLE"} for i in range(200)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def proxied():
    upstream = Upstream(("127.0.0.1", 0), Recorder)
    upstream.seen = []
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    static = Path(tempfile.mkdtemp(prefix="ticketing-static-"))
    static.chmod(0o755)
    (static / "app.css").write_text("body { color: black; }\n")
    (static / "app.css").chmod(0o644)
    port = free_port()
    try:
        with nginx_proxy(upstream=f"127.0.0.1:{upstream.server_port}", port=port, static_root=static):
            yield port, upstream
    finally:
        upstream.shutdown()
        shutil.rmtree(static, ignore_errors=True)


@pytest.fixture
def metrics_token() -> str:
    return "scrape-token-for-the-test"


@pytest.fixture
def gunicorn_server(tmp_path, metrics_token):
    """The service under gunicorn as deployed (gunicorn.conf.py, 3 workers, multiprocess metrics in
    tmp_path/prometheus) on a free port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketing.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "3",
        "PORT": str(port),
        "METRICS_TOKEN": metrics_token,
        "GUNICORN_ACCESS_LOG": "",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "ticketing.wsgi", "-c", str(ROOT / "gunicorn.conf.py")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for_port(port, process, what="gunicorn", seconds=30)
    except RuntimeError:
        process.kill()
        raise
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
