"""What the proxy in front of the web workers says about a request: how long it waited for a worker.

nginx stamps every request it passes on with `X-Request-Start: t=<epoch seconds>` (deploy/nginx). When
the web workers are saturated, requests wait between the proxy and Django (nginx's upstream connection,
the server's backlog), not in Django: the time since the stamp is the only measure of that wait. The
admission controller adds it to the booking path's latency (apps/queue/gate.py), and the web tier stops
serving requests that waited past REQUEST_QUEUED_LIMIT_SECONDS (apps/common/middleware.py).

The header is believed only behind a trusted proxy (NUM_PROXIES > 0), which overwrites whatever a client
sent; a stamp in the future or further back than MAX_QUEUED_SECONDS is a clock problem between the proxy
and the worker, not a wait, and reads as none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

REQUEST_START_HEADER = "HTTP_X_REQUEST_START"
MAX_QUEUED_SECONDS = 60.0


def queued_seconds(meta: Mapping[str, Any], *, now: float) -> float:
    """Seconds the request waited between the proxy and `now` (epoch seconds), from the proxy's
    X-Request-Start (`t=1700000000.123`); 0 without a trusted proxy, a stamp, or a plausible one."""
    if not settings.REST_FRAMEWORK.get("NUM_PROXIES"):
        return 0.0
    raw = meta.get(REQUEST_START_HEADER)
    if not raw:
        return 0.0
    try:
        started = float(raw.removeprefix("t="))
    except ValueError:
        return 0.0
    waited = now - started
    return waited if 0 < waited <= MAX_QUEUED_SECONDS else 0.0
