"""The booking path reports to the admission controller from here, so neither reservations nor
payments has to know about it: `QueueTokenRequired` marks the requests it lets through, and this
middleware times every marked write (hold, payment) and reports its latency, whether it was shed
(a 503: the database ran out of lock waits or is down) and, for a write that succeeded (a hold; a
payment ends the access anyway), that the buyer's place is kept while the hold lives.

The latency is what the buyer waits: the time in Django plus, behind the proxy, the time the
request queued for a free web worker. nginx stamps each request with `X-Request-Start: t=<epoch
seconds>` (deploy/nginx); when the web worker is saturated, requests wait there and not in Django,
and a controller that saw only the time in Django would go on admitting buyers into seconds of
queueing. The header is believed only behind a trusted proxy (NUM_PROXIES > 0),
which overwrites whatever a client sent."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from redis.exceptions import RedisError

from .controller import record_booking_request
from .keys import now_ms

logger = logging.getLogger(__name__)

# The attribute QueueTokenRequired sets on the Django request it lets through.
BOOKING_PATH_MARK = "queue_booking_path"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REQUEST_START_HEADER = "HTTP_X_REQUEST_START"
# A stamp further back than this is a clock problem between the proxy and the worker, not a queue.
MAX_QUEUED_MS = 60_000


def queued_ms(request: HttpRequest, *, now: float) -> float:
    """How long the request waited between the proxy and Django, from the proxy's X-Request-Start
    (`t=1700000000.123`, seconds); 0 without a trusted proxy, a stamp, or a plausible one."""
    if not settings.REST_FRAMEWORK.get("NUM_PROXIES"):
        return 0.0
    raw = request.META.get(REQUEST_START_HEADER, "").removeprefix("t=")
    try:
        started = float(raw)
    except ValueError:
        return 0.0
    waited = (now - started) * 1000
    return waited if 0 < waited <= MAX_QUEUED_MS else 0.0


@dataclass(frozen=True, kw_only=True)
class BookingPathRequest:
    user_id: int
    concert_date_id: int


def mark_booking_path(request: HttpRequest, *, user_id: int, concert_date_id: int) -> None:
    setattr(request, BOOKING_PATH_MARK, BookingPathRequest(user_id=user_id, concert_date_id=concert_date_id))


class BookingPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        entered, started = time.time(), time.perf_counter()
        response = self.get_response(request)
        marked: BookingPathRequest | None = getattr(request, BOOKING_PATH_MARK, None)
        if marked is None or request.method in SAFE_METHODS:
            return response
        # The proxy's stamp is read only for the writes reported, not on every request (polls included).
        elapsed_ms = queued_ms(request, now=entered) + (time.perf_counter() - started) * 1000
        succeeded = 200 <= response.status_code < 300
        try:
            record_booking_request(
                concert_date_id=marked.concert_date_id,
                user_id=marked.user_id,
                ms=elapsed_ms,
                shed=response.status_code == 503,
                keep_place_until_ms=now_ms() + settings.HOLD_TTL_SECONDS * 1000 if succeeded else 0,
            )
        except RedisError:
            # The answer is already decided; a lost sample must not turn it into an error.
            logger.warning("could not report a booking-path request to the admission controller", exc_info=True)
        return response
