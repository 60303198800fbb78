"""JSON error pages for Django's own 404/500 handlers, and the health check."""

from django.db import connection
from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .error_codes import ErrorCode
from .exceptions import error_body
from .redis import get_redis


class PublicApi(APIView):
    """Base of the endpoints anyone may call: no authentication runs (a stale or bad token on a
    public page is not an error) and no permission is needed."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class ValidatedInputMixin:
    """For views whose permission check needs the body (the queue token is checked for the concert
    date a request names): the nested InputSerializer validates the body once per request, and a bad
    body is a 400 before any permission decision."""

    InputSerializer: type[serializers.Serializer]

    def get_input(self, request: Request) -> dict:
        if not hasattr(self, "_validated_input"):
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            self._validated_input = serializer.validated_data
        return self._validated_input


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(ErrorCode.NOT_FOUND, "Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side."), status=500)


class HealthApi(PublicApi):
    @extend_schema(
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "redis": serializers.CharField(),
                },
            ),
            503: inline_serializer(
                "HealthDown",
                {
                    "status": serializers.CharField(),
                    "database": serializers.CharField(),
                    "redis": serializers.CharField(),
                },
            ),
        }
    )
    def get(self, request: Request) -> Response:
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
        healthy = all(value == "ok" for value in parts.values())
        body: dict = {"status": "ok" if healthy else "unavailable", **parts}
        if not healthy:
            failing = ", ".join(name for name, value in parts.items() if value != "ok")
            body.update(error_body(ErrorCode.SERVICE_UNAVAILABLE, f"Unavailable: {failing}."))
        return Response(body, status=200 if healthy else 503)
