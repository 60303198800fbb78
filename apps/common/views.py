"""The views' shared bases (validated input, public endpoints), JSON error pages for Django's own
404/500 handlers, and the health checks."""

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import metrics
from .error_codes import ErrorCode
from .exceptions import error_body
from .redis import get_redis
from .schema import ErrorDetailSerializer, ErrorSerializer
from .throttling import ScopedIPRateThrottle


class ValidatedInputMixin:
    """The body, validated by the view's nested InputSerializer once per request (`get_input`): a bad
    body is a 400 before anything else runs, and views whose permission check needs the body (the
    queue token is checked for the concert date a request names) read it only once."""

    InputSerializer: type[serializers.Serializer]

    def get_input(self, request: Request) -> dict:
        if not hasattr(self, "_validated_input"):
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            self._validated_input = serializer.validated_data
        return self._validated_input

    def use_input(self, validated: dict) -> None:
        """The body read already as `InputSerializer` would validate it (a fast path's reading)."""
        self._validated_input = validated


class PublicApi(ValidatedInputMixin, APIView):
    """Base of the endpoints anyone may call: no authentication runs (a stale or bad token on a
    public page is not an error), no permission is needed, and a view that names a `throttle_scope`
    is limited per client IP (one without a scope is not counted)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedIPRateThrottle]


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(ErrorCode.NOT_FOUND, "Not found."), status=404)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's 400 (a SuspiciousOperation the request made, with DEBUG off)."""
    return JsonResponse(error_body(ErrorCode.VALIDATION_ERROR, "Bad request."), status=400)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side."), status=500)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape endpoint. With METRICS_TOKEN set it wants `Authorization: Bearer <token>`;
    without one it is served only where METRICS_OPEN is on (the default while DEBUG is), else it is
    not found. The buyer-facing proxy does not pass /metrics at all (deploy/nginx)."""
    token = settings.METRICS_TOKEN
    if token:
        if not constant_time_compare(request.headers.get("Authorization", ""), f"Bearer {token}"):
            response = JsonResponse(error_body(ErrorCode.NOT_AUTHENTICATED, "A metrics token is required."), status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not settings.METRICS_OPEN:
        return json_not_found(request)
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)


HEALTH_RETRY_AFTER_SECONDS = 5


def _dependencies() -> dict[str, str]:
    """ "ok" or "unavailable" for the database and Redis, each asked with one cheap round trip."""
    parts = {"database": "ok", "redis": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure of the database is "down" for a health check
        parts["database"] = "unavailable"
    try:
        get_redis().ping()
    except Exception:
        parts["redis"] = "unavailable"
    return parts


def _failing(parts: dict[str, str]) -> str:
    return ", ".join(name for name, value in parts.items() if value != "ok")


HealthParts = {"database": serializers.CharField(), "redis": serializers.CharField()}


class HealthApi(PublicApi):
    """Both dependencies and the error shape in one body; 503 with Retry-After when one is down."""

    throttle_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField(), **HealthParts}),
            503: inline_serializer(
                "HealthDown", {"status": serializers.CharField(), **HealthParts, "error": ErrorDetailSerializer()}
            ),
        }
    )
    def get(self, request: Request) -> Response:
        parts = _dependencies()
        if not _failing(parts):
            return Response({"status": "ok", **parts})
        body = {
            "status": "unavailable",
            **parts,
            **error_body(ErrorCode.SERVICE_UNAVAILABLE, f"Unavailable: {_failing(parts)}."),
        }
        return Response(body, status=503, headers={"Retry-After": str(HEALTH_RETRY_AFTER_SECONDS)})


class HealthLiveApi(PublicApi):
    """Liveness: the process answers. Touches nothing else, so a database outage does not get every
    web process restarted by its supervisor."""

    throttle_classes: list = []
    may_be_unavailable = False  # no dependency behind it: never a 503 (apps.common.schema)

    @extend_schema(responses={200: inline_serializer("HealthLive", {"status": serializers.CharField()})})
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class HealthReadyApi(PublicApi):
    """Readiness: the database and Redis answer, so this process can serve buyers. Otherwise 503
    SERVICE_UNAVAILABLE in the error shape, `details` naming each part, with Retry-After."""

    throttle_classes: list = []

    @extend_schema(
        responses={
            200: inline_serializer("HealthReady", {"status": serializers.CharField(), **HealthParts}),
            503: ErrorSerializer,
        }
    )
    def get(self, request: Request) -> Response:
        parts = _dependencies()
        failing = _failing(parts)
        if not failing:
            return Response({"status": "ok", **parts})
        body = error_body(ErrorCode.SERVICE_UNAVAILABLE, f"Not ready: {failing} unavailable.", parts)
        return Response(body, status=503, headers={"Retry-After": str(HEALTH_RETRY_AFTER_SECONDS)})
