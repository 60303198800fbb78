"""Errors that happen outside a DRF view (unknown URLs, body-size limits, anything a view did not
catch) still answer in the API.md error shape under /api/."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .error_codes import ErrorCode
from .exceptions import error_body, render_exception


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code == 404
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse(error_body(ErrorCode.NOT_FOUND, "Not found."), status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        status, body, headers = render_exception(exception)
        response = JsonResponse(body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


class ReplicaReadsMiddleware:
    """Send the reads of the named read-only catalogue views to the replica (ticketing.db_router)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> HttpResponse | None:
        from django.conf import settings

        from ticketing.db_router import replica_reads

        match = request.resolver_match
        if (
            request.method in ("GET", "HEAD")
            and match is not None
            and match.url_name in settings.REPLICA_READ_URL_NAMES
        ):
            with replica_reads():
                return view(request, *args, **kwargs)
        return None
