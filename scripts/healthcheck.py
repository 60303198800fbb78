"""Container health checks (the Dockerfile's HEALTHCHECK and docker-compose's), exit 0 when healthy.

    python scripts/healthcheck.py web    # GET /api/health/live on this container's gunicorn
    python scripts/healthcheck.py push   # the same on the push process (scripts/push_server.py)
    python scripts/healthcheck.py beat   # beat's schedule file was written recently (it is, every few minutes)

The worker's check is Celery's own: `celery -A ticketing inspect ping -d celery@$HOSTNAME`.
Only the standard library: a check must not import Django (seconds of start-up every interval).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# Beat writes its schedule at least every 3 minutes while it ticks (celery.beat.Scheduler.sync_every).
BEAT_MAX_AGE_SECONDS = 300


def health_host(allowed_hosts: str) -> str:
    """A Host header the app accepts: the first concrete ALLOWED_HOSTS entry, else localhost."""
    for host in (item.strip() for item in allowed_hosts.split(",")):
        if host and host != "*" and not host.startswith("."):
            return host
    return "localhost"


def web_is_live(*, port: int, host: str, timeout: float = 3.0) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health/live", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def beat_is_ticking(*, schedule: Path, max_age: float = BEAT_MAX_AGE_SECONDS, now: float | None = None) -> bool:
    """The newest file of beat's schedule store (dbm may add a suffix) is younger than `max_age`."""
    files = list(schedule.parent.glob(schedule.name + "*"))
    if not files:
        return False
    newest = max(path.stat().st_mtime for path in files)
    return (now if now is not None else time.time()) - newest < max_age


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "web"
    if what in ("web", "push"):
        healthy = web_is_live(
            port=int(os.environ.get("PORT", "8000")), host=health_host(os.environ.get("ALLOWED_HOSTS", ""))
        )
    elif what == "beat":
        healthy = beat_is_ticking(schedule=Path(os.environ.get("CELERY_BEAT_SCHEDULE", "/tmp/celerybeat-schedule")))
    else:
        print(f"unknown check {what!r}: web, push or beat", file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
