"""The waiting room's two crowd requests, the status poll and the entry, answered before the rest of
the stack.

A sale's crowd polls `GET /api/queue/status` far more often than it does anything else (the full rush:
~130,000 polls against ~12,000 holds and payments), and every buyer enters the line once, most of them
in the sale's first minutes, when the machine is busiest. The work of each is small: the access token
checked in process and one Redis round trip (apps/queue/access.py). What they paid for besides was the
framework around it: a dozen middlewares and DRF's dispatch (content negotiation, parsing,
authentication, permission and throttle classes, a `Response` rendered through a template response).

This middleware sits right after the ones every answer needs (request id, metrics, allowed host,
security headers) and answers a well-formed poll or entry itself, with the same code the views run
(`QueueJWTAuthentication`, `queue_status` / `enter_queue`, the body read by the API's own JSON reader
and the views' serializers and renderer) and the same bytes and headers. Whatever is not the common
case goes on to the full stack, which answers it as before: no or a bad token (401), a bad query or
body (400), a body that is not plain UTF-8 JSON, an `Accept` JSON cannot satisfy (406), an unknown
date (404), a revoked token (401), an unverified e-mail (403), a refusal of the line (409
`BOOKING_CLOSED`, `SOLD_OUT`), a rate limit (429), Redis down (503). A request that falls through
repeats the queue's work, which is safe: a poll's read and heartbeat are harmless, and a refused entry
has already taken back whatever it did (a 429's counts too), so the view's attempt finds the line as
it was; these are the refusals, not the common case.

`QUEUE_STATUS_FAST_PATH=False` and `QUEUE_ENTRY_FAST_PATH=False` turn each off (the parity tests
compare both answers)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import APIException, ValidationError
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.tokens import Token

from apps.common.exceptions import ApplicationError
from apps.common.fast_path import RENDERER, Route, accepts_json, json_body
from apps.common.schema import plain_id

from . import api, services
from .access import AccessCheck, QueueJWTAuthentication, require_verified_email
from .waiting_room import state_headers

logger = logging.getLogger(__name__)

QUERY_FIELDS = frozenset({"concert_id", "concert_date_id"})
ENTRY_FIELDS = frozenset({*QUERY_FIELDS, "draw_nonce"})
# An entry's body is a few dozen bytes: anything much longer is not the common case.
ENTRY_MAX_BYTES = 512
# The buyer's state in the line and the answer's status.
Answered = tuple[services.QueueState, int]
Answer = Callable[[HttpRequest], Answered | None]
AUTHENTICATION = QueueJWTAuthentication()


@cache
def _routes() -> dict[tuple[str, str], tuple[Route, Answer, str]]:
    """(method, path) -> the route, what answers it and the setting that turns that off (resolved once)."""
    status, entry = Route.named("queue-status"), Route.named("queue")
    return {
        ("GET", status.path): (status, _status, "QUEUE_STATUS_FAST_PATH"),
        ("POST", entry.path): (entry, _entry, "QUEUE_ENTRY_FAST_PATH"),
    }


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


def _entry_body(request: HttpRequest) -> dict[str, Any] | None:
    """The entry's fields as the view would take them, or None for anything else: not `application/json`
    in UTF-8, no or a long body, not a JSON object of the entry's fields, a value the view refuses."""
    data = json_body(request, max_bytes=ENTRY_MAX_BYTES)
    if not isinstance(data, dict) or not QUERY_FIELDS <= data.keys() <= ENTRY_FIELDS:
        return None
    try:
        return api.ENTRY.run_validation(data)
    except ValidationError:
        return None


def _authenticated(request: HttpRequest) -> tuple[Any, Token] | None:
    try:
        return AUTHENTICATION.authenticate(request)
    except (AuthenticationFailed, InvalidToken, TokenError):
        return None


def _status(request: HttpRequest) -> Answered | None:
    ids = _ids(request)
    authenticated = _authenticated(request) if ids is not None else None
    if authenticated is None:
        return None
    user, token = authenticated
    state = services.queue_status(user_id=user.id, **ids, access=AccessCheck.of_claims(token.payload))
    return state, 200


def _entry(request: HttpRequest) -> Answered | None:
    entry = _entry_body(request)
    authenticated = _authenticated(request) if entry is not None else None
    if authenticated is None:
        return None
    # The view's checks read the user and the token off the request, as DRF's request has them (one
    # that falls through is authenticated again): the e-mail (403 EMAIL_NOT_VERIFIED, the view's
    # answer), and the limits per user and per address, counted in the queue's round trip.
    request.user, request.auth = authenticated
    require_verified_email(request)
    access = AccessCheck.of(request, throttle_scope=api.QueueApi.throttle_scope)
    state = services.enter_queue(user_id=request.user.id, **entry, access=access)
    return state, 201 if state.created else 200


def _answer(request: HttpRequest, route: Route, answer: Answer) -> HttpResponse | None:
    if not accepts_json(request):
        return None
    try:
        answered = answer(request)
    except (APIException, ApplicationError):
        return None  # a refusal (401 revoked, 403, 404, 409, 429): the full stack answers it
    except Exception:
        logger.debug("queue fast path fell through", exc_info=True)
        return None  # Redis or the database down: the full stack answers 503
    if answered is None:
        return None
    state, status = answered
    body = RENDERER.render(api.STATE.to_representation(state))
    response = HttpResponse(body, content_type="application/json", status=status)
    for name, value in {**route.headers, **state_headers(state)}.items():
        response[name] = value
    return response


class QueueFastPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = _routes().get((request.method, request.path_info))
        if found is not None:
            route, answer, switch = found
            response = _answer(request, route, answer) if getattr(settings, switch) else None
            if response is not None:
                request.resolver_match = route.match
                return response
        return self.get_response(request)
