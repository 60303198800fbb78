"""The waiting room's status poll, answered before the rest of the stack.

A sale's crowd polls `GET /api/queue/status` far more often than it does anything else (the full rush:
~130,000 polls against ~12,000 holds and payments), and the poll's own work is small: the access
token checked in process and one Redis round trip (apps/queue/access.py). What it paid for besides
was the framework around it: a dozen middlewares and DRF's dispatch (content negotiation,
authentication, permission and throttle classes, a `Response` rendered through a template response).

This middleware sits right after the ones every answer needs (request id, metrics, allowed host,
security headers) and answers a well-formed poll itself, with the same code the view runs
(`QueueJWTAuthentication`, `queue_status`, the view's serializer and renderer) and the same bytes and
headers. Whatever is not the common case goes on to the full stack, which answers it as before: no
or a bad token (401), a bad query (400), an `Accept` JSON cannot satisfy (406), an unknown date
(404), a revoked token (401), Redis down (503). A poll that falls through repeats the status
script's read and heartbeat, which is harmless; it happens only on those refusals.

`QUEUE_STATUS_FAST_PATH=False` turns it off (the parity tests compare both answers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch, resolve, reverse
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError

from apps.common.schema import plain_id

from . import api, services
from .access import AccessCheck, QueueJWTAuthentication

logger = logging.getLogger(__name__)

QUERY_FIELDS = frozenset({"concert_id", "concert_date_id"})
JSON_MEDIA_RANGES = frozenset({"application/json", "application/*", "*/*"})
# What the full stack adds to this view's answer beyond the security middleware's headers.
VIEW_HEADERS = {"Allow": "GET, HEAD, OPTIONS", "X-Frame-Options": "DENY"}
RENDERER = JSONRenderer()
AUTHENTICATION = QueueJWTAuthentication()


@cache
def _route() -> tuple[str, ResolverMatch]:
    """The poll's path, and its resolver match for the metrics middleware (resolved once)."""
    path = reverse("queue-status")
    return path, resolve(path)


def _ids(request: HttpRequest) -> dict[str, int] | None:
    """concert_id and concert_date_id as the view would take them, or None for anything else (missing,
    repeated, extra parameters, not a plain positive integer in the id range)."""
    query = request.GET
    if set(query) != QUERY_FIELDS:
        return None
    ids: dict[str, int] = {}
    for name in QUERY_FIELDS:
        values = query.getlist(name)
        value = plain_id(values[0]) if len(values) == 1 else None
        if value is None:
            return None
        ids[name] = value
    return ids


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    if not accept.strip():
        return True
    return any(part.split(";", 1)[0].strip().lower() in JSON_MEDIA_RANGES for part in accept.split(","))


def _answer(request: HttpRequest) -> HttpResponse | None:
    ids = _ids(request)
    if ids is None or not _accepts_json(request):
        return None
    try:
        authenticated = AUTHENTICATION.authenticate(request)
    except (AuthenticationFailed, InvalidToken, TokenError):
        return None
    if authenticated is None:
        return None
    user, token = authenticated
    try:
        state = services.queue_status(user_id=user.id, **ids, access=AccessCheck.of_claims(token.payload))
    except APIException:
        return None  # 401 revoked, 404: the full stack answers it
    except Exception:
        logger.debug("status fast path fell through", exc_info=True)
        return None  # Redis or the database down: the full stack answers 503
    response = HttpResponse(RENDERER.render(api.STATE.to_representation(state)), content_type="application/json")
    for name, value in VIEW_HEADERS.items():
        response[name] = value
    if state.poll_after_seconds:
        response["Retry-After"] = str(state.poll_after_seconds)
    return response


class QueueStatusFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and settings.QUEUE_STATUS_FAST_PATH:
            path, match = _route()
            if request.path_info == path:
                response = _answer(request)
                if response is not None:
                    request.resolver_match = match
                    return response
        return self.get_response(request)
