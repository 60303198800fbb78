"""Requests answered before the rest of the stack: the pieces the fast paths share, and the fast path
of the gated writes (a hold, a payment).

A fast path is a middleware placed right after the ones every answer needs (request id, the shed of
what queued too long, metrics, allowed host, security headers). It answers the common, well-formed
request of one route itself, with the code its view runs and the same status, bytes and headers; it
hands anything else to the full stack, which answers as before. What it leaves out is the framework's
work around the view: the dozen middlewares that follow (the site's session, CSRF, messages, CSP, the
API's error pages: none acts on a JSON request that reaches a view), the URL resolver, and DRF's
dispatch (content negotiation, the parser registry, the authentication loop, the throttle classes).

`GatedFastPath` is the base of the gated writes' fast paths (`apps.common.queue_gate.QueueGated`
views). It checks in process what can be checked without a side effect (method, path, no query
string, an `Accept` JSON satisfies, a short UTF-8 JSON body that the subclass's `read_input` accepts
as the view's input serializer would, a queue token header, an access token the gate's
authentication accepts) and falls through on anything else. Past that point nothing falls through:
the view's own steps run (`QueueGated.answer_directly`: the gate, the handler, DRF's exception
handler, `finalize_response` with the gate's record), so a refusal (401 revoked, 403, 404, 409, 429,
503) is answered as the view answers it, and the rate limits, the gate's record and the request's
one round trip after commit are what they are through the view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import ResolverMatch, resolve, reverse
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from . import parsers
from .middleware import error_response
from .queue_gate import QueueGated, queue_gate

JSON_MEDIA_RANGES = frozenset({"application/json", "application/*", "*/*"})
RENDERER = JSONRenderer()
QUEUE_TOKEN_HEADER = "HTTP_X_QUEUE_TOKEN"


@dataclass(frozen=True)
class Route:
    """A view's path, its resolver match (for the metrics middleware) and what the full stack adds to
    its answers beyond the security middleware's headers (DRF's `Allow`, the clickjacking header)."""

    path: str
    match: ResolverMatch
    headers: dict[str, str]

    @classmethod
    def named(cls, name: str) -> Route:
        path = reverse(name)
        match = resolve(path)
        view = match.func.view_class()  # type: ignore[attr-defined]
        view.setup(HttpRequest())  # as for a request: a view with GET answers HEAD too (its `Allow`)
        return cls(path, match, {**view.default_response_headers, "X-Frame-Options": settings.X_FRAME_OPTIONS})


@cache
def _named_route(name: str) -> Route:
    """Resolved once a process (every handler a test client builds has its own middlewares)."""
    return Route.named(name)


def accepts_json(request: HttpRequest) -> bool:
    """No `Accept`, or one JSON satisfies (anything else is content negotiation's: a 406 or a choice)."""
    accept = request.META.get("HTTP_ACCEPT", "")
    if not accept.strip():
        return True
    return any(part.split(";", 1)[0].strip().lower() in JSON_MEDIA_RANGES for part in accept.split(","))


def json_body(request: HttpRequest, *, max_bytes: int) -> Any | None:
    """The body's JSON value when it is `application/json` in UTF-8, of 1 to `max_bytes` bytes, and
    parses as the API's own JSON reader parses it (`apps.common.parsers`); None for anything else."""
    if request.content_type != "application/json":
        return None
    charset = request.content_params.get("charset")
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        return None
    length = request.META.get("CONTENT_LENGTH", "")
    if not length.isascii() or not length.isdigit() or not 0 < int(length) <= max_bytes:
        return None
    try:
        return parsers.loads(request.body)
    except (ValueError, UnicodeError, RecursionError):
        return None


class GatedFastPath:
    """Base of a gated write's fast path (see the module): `url_name` names the route (POST),
    `switch` the setting that turns it off, `read_input` reads the body's JSON value into the view's
    validated input, or None for anything it does not take exactly as the view's serializer would."""

    url_name: ClassVar[str]
    switch: ClassVar[str]
    max_bytes: ClassVar[int] = 512  # the bodies are a few dozen bytes: anything much longer is not the common case

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def read_input(self, data: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    @property
    def route(self) -> Route:
        return _named_route(self.url_name)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method == "POST" and request.path_info == self.route.path and getattr(settings, self.switch):
            response = self.answer(request)
            if response is not None:
                request.resolver_match = self.route.match
                return response
        return self.get_response(request)

    def answer(self, request: HttpRequest) -> HttpResponseBase | None:
        started = (time.time(), time.perf_counter())  # when the request reached the view, as QueueGated takes it
        if request.META.get("QUERY_STRING") or not request.META.get(QUEUE_TOKEN_HEADER) or not accepts_json(request):
            return None
        data = json_body(request, max_bytes=self.max_bytes)
        validated = self.read_input(data) if data is not None else None
        if validated is None:
            return None
        authenticator = queue_gate().authentication_class()
        try:
            authenticated = authenticator.authenticate(request)
        except APIException:
            return None  # no valid access token: the full stack's 401
        if authenticated is None:
            return None
        match = self.route.match
        view: QueueGated = match.func.view_class(**match.func.view_initkwargs)  # type: ignore[attr-defined]
        view.setup(request)
        drf_request = Request(request, parsers=view.get_parsers(), authenticators=(authenticator,))
        drf_request.user, drf_request.auth = authenticated
        drf_request._authenticator = authenticator  # as DRF's authentication loop records the one that passed
        drf_request.accepted_renderer, drf_request.accepted_media_type = RENDERER, RENDERER.media_type
        view.use_input(validated)  # type: ignore[attr-defined]  (a ValidatedInputMixin)
        try:
            response = view.answer_directly(drf_request, started=started)
            response.render()
        except Exception as exc:  # one DRF's handler did not answer: as the API's error middleware answers it
            response = error_response(exc)
        # The clickjacking middleware's header, which the full stack passes through.
        response.setdefault("X-Frame-Options", self.route.headers["X-Frame-Options"])
        return response
