"""Errors that happen outside a DRF view (unknown URLs, body-size limits, anything a view did not
catch) still answer in the docs/API.md error shape under /api/."""

import json
import logging
import math
import random
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse

from . import metrics
from .db_router import replica_reads
from .error_codes import ErrorCode
from .exceptions import error_body, render_exception
from .logs import accepted_request_id, bind_request_id, reset_request_id
from .proxy import queued_seconds


class RequestIdMiddleware:
    """The request's id (the client's `X-Request-ID` if sane, else a new one) for the logs written
    while serving it and the tasks it enqueues; returned in the response's `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class QueuedTooLongMiddleware:
    """A request that waited longer than REQUEST_QUEUED_LIMIT_SECONDS for a web worker (behind the proxy:
    apps/common/proxy.py) is answered 503 SERVICE_UNAVAILABLE at once, with a `Retry-After` of one to two
    limits, before anything else runs: nothing was read or changed for it.

    When arrivals outrun the web tier, requests wait in front of it, and its workers used to serve each
    one however long it had waited: a request whose client had already given up (nginx's 499) still
    cost its full work (a login its password hash), every answer came late, and buyers whose clients
    timed out left the line with their places still in it. Shedding what waited too long keeps the wait
    in front of the tier near the limit, spends the workers on requests still wanted, and tells each
    client when to come back instead of leaving it to time out. The health probes are never shed: an
    overloaded process is alive.

    Placed right after the request id (its answer carries the id) and before the metrics (a shed
    request is counted as one, `sheds{reason="queued"}`, not as a route's latency). 0 turns it off; it
    never acts without a trusted proxy's stamp."""

    NEVER_SHED = ("/api/health/", "/metrics")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.REQUEST_QUEUED_LIMIT_SECONDS
        if (
            limit > 0
            and queued_seconds(request.META, now=time.time()) > limit
            and not request.path.startswith(self.NEVER_SHED)
        ):
            metrics.shed("queued")
            response = JsonResponse(
                error_body(
                    ErrorCode.SERVICE_UNAVAILABLE,
                    "The service is busy; retry after the seconds in Retry-After.",
                ),
                status=503,
            )
            # Spread over a limit's width, so that what was shed together does not come back together.
            response["Retry-After"] = str(math.ceil(limit * random.uniform(1.0, 2.0)))
            return response
        return self.get_response(request)


class MetricsMiddleware:
    """Latency and CPU time per URL route (the pattern, not the path: a bounded set of series),
    responses by status, error codes, and 503s. CPU time is the serving thread's (right under sync and
    threaded workers alike). Error bodies are small, so reading their code costs only errors."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started, cpu_started = time.perf_counter(), time.thread_time()
        response = self.get_response(request)
        match = request.resolver_match
        route = "/" + match.route if match is not None else "unmatched"
        if route == "/metrics":
            return response
        status = response.status_code
        metrics.observe_request(
            route=route,
            method=request.method or "",
            status=status,
            seconds=time.perf_counter() - started,
            cpu_seconds=time.thread_time() - cpu_started,
        )
        if status >= 400:
            metrics.api_error(code=_error_code(response), status=status)
            if status == 503:
                metrics.shed(route)
        return response


def _error_code(response: HttpResponse) -> str:
    if getattr(response, "streaming", False) or not response.get("Content-Type", "").startswith("application/json"):
        return "NON_JSON"
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "UNKNOWN"


class AllowedHostMiddleware:
    """A Host header outside ALLOWED_HOSTS is 400 VALIDATION_ERROR in the error shape, in development
    mode too (Django's own answer is an HTML page, its debug page when DEBUG is on). Placed before
    anything that reads the host, so no other middleware meets the exception."""

    security_log = logging.getLogger("django.security.DisallowedHost")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            request.get_host()
        except DisallowedHost as exc:
            self.security_log.error(str(exc), extra={"status_code": 400})
            return JsonResponse(
                error_body(ErrorCode.VALIDATION_ERROR, "This host is not served here.", {"host": [NOT_ALLOWED_HOST]}),
                status=400,
            )
        return self.get_response(request)


NOT_ALLOWED_HOST = "Not an allowed host."
API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    """Whether `request` is for the API (under /api/): its errors answer in the error shape, and the
    site's middlewares pass it by (apps/common/site_middleware.py)."""
    return request.path.startswith(API_PREFIX)


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            is_api_request(request)
            and response.status_code == 404
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse(error_body(ErrorCode.NOT_FOUND, "Not found."), status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return error_response(exception) if is_api_request(request) else None


def error_response(exception: BaseException) -> JsonResponse:
    """The API's answer to an exception no view answered, in the error shape."""
    status, body, headers = render_exception(exception)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


class ReplicaReadsMiddleware:
    """Send the reads of the named read-only catalogue views to the replica (apps.common.db_router)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> HttpResponse | None:
        match = request.resolver_match
        if (
            request.method in ("GET", "HEAD")
            and match is not None
            and match.url_name in settings.REPLICA_READ_URL_NAMES
        ):
            with replica_reads():
                return view(request, *args, **kwargs)
        return None
