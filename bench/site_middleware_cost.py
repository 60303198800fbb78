"""What Django's site middlewares (sessions, the logged-in user, messages) cost an API request,
and what passing them by for /api/ gives back (apps/common/site_middleware.py).

    .venv/bin/python bench/site_middleware_cost.py [--requests 500] [--rounds 9]

In this process, two Django WSGI handlers: one with Django's own three middlewares in their places (as
before), one with the settings' (the site-only subclasses). Each serves, in alternating blocks of
--requests, three API requests: `GET /api/health/live` (DRF with no work), the seat layout of a
10,000-seat date (public, read from the cache) and a 404 under /api/; and a 404 outside /api/ (a page's
path, through every site middleware), which must cost the same in both. Each block's CPU time
(time.process_time) per request; the median block of each. Scratch database `bench_site_middleware`,
Redis db 9.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import bench_date, scratch_django

DJANGO_OWN = {
    "apps.common.site_middleware.SessionMiddleware": "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.common.site_middleware.AuthenticationMiddleware": "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.common.site_middleware.MessageMiddleware": "django.contrib.messages.middleware.MessageMiddleware",
}


def environ(path: str) -> dict:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    with scratch_django("bench_site_middleware", 9):
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.test.utils import override_settings

        date = bench_date(seats=10_000)
        paths = {
            "GET /api/health/live": "/api/health/live",
            "GET …/seat-layout": f"/api/concerts/{date.concert_id}/dates/{date.pk}/seat-layout",
            "GET /api/nope (404)": "/api/nope",
            "GET /nope (a page's path, 404)": "/nope",
        }
        handlers = {"Django's own": None, "site-only (settings)": None}
        with override_settings(MIDDLEWARE=[DJANGO_OWN.get(m, m) for m in settings.MIDDLEWARE]):
            handlers["Django's own"] = WSGIHandler()
        handlers["site-only (settings)"] = WSGIHandler()

        def start_response(status: str, headers: list, exc_info: object = None) -> None:
            pass

        blocks: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for label, path in paths.items():
                for name, handler in handlers.items():
                    for _ in range(20):  # warm
                        b"".join(handler(environ(path), start_response))
                    began = time.process_time()
                    for _ in range(args.requests):
                        b"".join(handler(environ(path), start_response))
                    spent = time.process_time() - began
                    blocks.setdefault((label, name), []).append(1e6 * spent / args.requests)
        print(f"CPU per request, median of {args.rounds} blocks of {args.requests} (µs)\n")
        print(f"{'request':32} {'Django own':>11} {'site-only':>10} {'saved':>7}")
        for label in paths:
            own = statistics.median(blocks[(label, "Django's own")])
            site = statistics.median(blocks[(label, "site-only (settings)")])
            print(f"{label:32} {own:11.0f} {site:10.0f} {own - site:7.0f}  ({(own - site) / own:.0%})")


if __name__ == "__main__":
    main()
