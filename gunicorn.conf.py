"""gunicorn settings for every way the service runs (Procfile, docker-compose, the Dockerfile's CMD):

    gunicorn ticketing.wsgi -c gunicorn.conf.py

Knobs from the environment: PORT (8000), BIND_HOST (127.0.0.1; the container sets 0.0.0.0),
WEB_CONCURRENCY (worker processes, default 2 * cores + 1), GUNICORN_TIMEOUT (30 s), GUNICORN_ACCESS_LOG.
Sync workers are meant to sit behind a buffering proxy (deploy/nginx). Against gthread workers with
upstream keep-alive (bench/worker_model.py, docs/PERFORMANCE.md) threads won nothing on this CPU-bound
app: two sync workers served holds and polls faster than two gthread workers of four threads.
"""

import multiprocessing
import os
import sys
from pathlib import Path

from gunicorn import util as gunicorn_util

# The project, whatever the working directory (gunicorn runs this file as a module, with __file__).
sys.path.insert(0, str(Path(globals().get("__file__") or "gunicorn.conf.py").resolve().parent))
from apps.common.server_errors import json_error_writer

bind = f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
# A request still running after this is killed (and its worker replaced); nginx waits a little longer.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5  # nginx keeps upstream connections open (keepalive 32)
# Recycle workers now and then so a slow leak never grows without bound; jitter keeps them apart.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# Requests gunicorn itself refuses before the app: a request line over 8190 bytes is 414, a header over
# 8190 bytes or more than 100 headers 431 (nginx's own limits, deploy/nginx, are the same size), answered
# in the API's error shape (apps/common/server_errors.py) rather than gunicorn's HTML page.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 100
gunicorn_util.write_error = json_error_writer(gunicorn_util.write_nonblock)

# The proxy's X-Forwarded-* are trusted only from these addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# GUNICORN_ACCESS_LOG="" turns the access log off (the benchmarks do; gunicorn also reads this file
# by default when started from the project directory).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# JSON lines, with the request id the app returns (X-Request-ID), like the app's own logs.
access_log_format = (
    '{"time":"%(t)s","request_id":"%({x-request-id}o)s","remote_addr":"%(h)s","method":"%(m)s",'
    '"path":"%(U)s","query":"%(q)s","status":%(s)s,"bytes":"%(B)s","duration_ms":%(M)s,"user_agent":"%(a)s"}'
)


def on_starting(server) -> None:
    """Prometheus multiprocess mode: the directory must exist before a worker writes its first value."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    """A worker that has gone leaves no live gauge behind."""
    from apps.common import metrics

    metrics.process_exited(worker.pid)
