"""The line's crowd tier: Granian serving the Django application (WSGI) to the requests nginx sends
to its crowd upstream (logins, token refreshes, entries, status polls), behind nginx.

    python scripts/crowd_server.py

Knobs from the environment: PORT (8000), BIND_HOST (127.0.0.1; the container sets 0.0.0.0),
CROWD_WORKERS (processes of one thread each; default one per core), CROWD_MAX_RSS_MB (a process over
this much memory is replaced; 512), REQUEST_TIMEOUT_SECONDS (30: a request running longer ends its
process, which is replaced; 0: no limit), CROWD_ACCESS_LOG (1: a JSON access log on stdout with the
request id nginx sends; 0: none), CROWD_LOG_LEVEL (warning).

Why Granian here and gunicorn for the rest: the crowd's requests are the cheapest the service has (a
poll is one Redis round trip), and a gunicorn sync worker's own work (the HTTP parsed in Python, a
connection accepted and closed per request) cost about as much as Django's for them. Granian parses in
Rust and keeps nginx's upstream connections alive (docs/PERFORMANCE.md, "The crowd tier on Granian").
nginx answers what gunicorn.conf.py answers for gunicorn (an oversized request line or header, in the
API's error shape) before a request reaches this tier. Granian has no `timeout` of its own: the
application it serves is `ticketing.wsgi:watched_application` (ticketing/watchdog.py), whose watchdog
ends a worker whose request ran past REQUEST_TIMEOUT_SECONDS, and Granian starts another, as gunicorn
does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# What Granian serves: the Django application behind the request watchdog (ticketing/watchdog.py).
APPLICATION = "ticketing.wsgi:watched_application"
# One JSON line per request, like gunicorn's access log (gunicorn.conf.py) and the app's own logs; the
# request id is the one nginx sends (X-Request-ID: the client's when sane, else nginx's own).
ACCESS_LOG_FORMAT = (
    '{"time":"%(time)s","request_id":"%(header{x-request-id})s","remote_addr":"%(addr)s",'
    '"method":"%(method)s","path":"%(path)s","query":"%(query_string)s","status":%(status)d,'
    '"duration_ms":%(dt_ms).1f}'
)


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # Prometheus multiprocess mode: it must exist before a worker writes its first value
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
    access_log = os.environ.get("CROWD_ACCESS_LOG", "1") not in ("", "0")
    Granian(
        APPLICATION,
        address=os.environ.get("BIND_HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        interface=Interfaces.WSGI,
        workers=int(os.environ.get("CROWD_WORKERS") or os.cpu_count() or 1),
        blocking_threads=1,  # CPU-bound Python: a second thread would only take turns at the GIL
        backlog=2048,
        websockets=False,
        respawn_failed_workers=True,
        workers_max_rss=int(os.environ.get("CROWD_MAX_RSS_MB", "512")),
        log_level=os.environ.get("CROWD_LOG_LEVEL", "warning"),
        log_access=access_log,
        log_access_format=ACCESS_LOG_FORMAT if access_log else None,
        working_dir=ROOT,
    ).serve()


if __name__ == "__main__":
    main()
