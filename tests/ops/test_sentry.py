"""Sentry is off unless SENTRY_DSN is set; when set, an error reaches the DSN with the request id."""

import http.server
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import django, sentry_sdk
django.setup()
from apps.common.logs import bind_request_id
client = sentry_sdk.get_client()
print("active", client.is_active())
if client.is_active():
    print("integrations", sorted(client.integrations))
    bind_request_id("sentry-req-9")
    try:
        raise RuntimeError("payment relay broke")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush(timeout=10)
"""


def run_probe(extra_env: dict[str, str]) -> str:
    env = {key: value for key, value in os.environ.items() if key != "SENTRY_DSN"}
    env.update({"DJANGO_SETTINGS_MODULE": "ticketing.settings.test", "PYTHONPATH": str(ROOT), **extra_env})
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_off_without_a_dsn():
    assert "active False" in run_probe({})


def test_errors_reach_the_dsn_with_the_request_id():
    received: list[bytes] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            encoding = self.headers.get("Content-Encoding")
            if encoding == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif encoding == "br":
                import brotli

                body = brotli.decompress(body)
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        out = run_probe({"SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_port}/1"})
    finally:
        server.shutdown()
    assert "active True" in out
    assert "'celery'" in out and "'django'" in out
    envelope = b"".join(received)
    assert b"payment relay broke" in envelope
    assert b'"request_id":"sentry-req-9"' in envelope.replace(b" ", b"")
