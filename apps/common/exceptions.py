"""One error type for business rules and one DRF exception handler that renders every error
in the docs/API.md shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
import math
from typing import Any

import redis.exceptions
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .error_codes import ErrorCode

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A business-rule failure a client can act on. Subclasses fix the code and HTTP status."""

    code: ErrorCode = ErrorCode.VALIDATION_ERROR
    status_code: int = 400
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(ApplicationError):
    code, status_code, default_message = ErrorCode.VALIDATION_ERROR, 400, "The request is not valid."


class NotAuthenticated(ApplicationError):
    code, status_code, default_message = ErrorCode.NOT_AUTHENTICATED, 401, "Authentication is required."


class InvalidCredentials(ApplicationError):
    code, status_code, default_message = ErrorCode.INVALID_CREDENTIALS, 401, "E-mail or password is wrong."


class EmailNotVerified(ApplicationError):
    code, status_code = ErrorCode.EMAIL_NOT_VERIFIED, 403
    default_message = "Confirm your e-mail address first: follow the link in the e-mail we sent you."


class NotFound(ApplicationError):
    code, status_code, default_message = ErrorCode.NOT_FOUND, 404, "Not found."


class QueueAccessRequired(ApplicationError):
    """A request about a concert date other than the one its queue access token is for."""

    code, status_code = ErrorCode.QUEUE_TOKEN_REQUIRED, 403
    default_message = "A valid queue access token for this concert date is required (X-Queue-Token)."


class Conflict(ApplicationError):
    """A 409 whose code names the conflicting state."""

    status_code = 409

    def __init__(self, code: ErrorCode, message: str, *, details: dict[str, Any] | None = None) -> None:
        self.code = code
        super().__init__(message, details=details)


class ServiceUnavailable(ApplicationError):
    code, status_code = ErrorCode.SERVICE_UNAVAILABLE, 503
    default_message = "The service is busy or a dependency is down; nothing was changed. Try again shortly."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or {}}}


def _drf_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {}


def _flatten(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _flatten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_flatten(item) for item in value]
    return str(value)


def _first_message(detail: Any, fallback: str) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            inner = _first_message(value, "")
            if inner:
                return inner if field == "non_field_errors" else f"{field}: {inner}"
        return fallback
    if isinstance(detail, list):
        return _first_message(detail[0], fallback) if detail else fallback
    return str(detail) or fallback


# Exceptions that mean a dependency is down or overloaded, not that the client did wrong.
UNAVAILABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
)
try:  # django-redis wraps client errors in its own type when it is the cache backend.
    from django_redis.exceptions import ConnectionInterrupted

    UNAVAILABLE_EXCEPTIONS += (ConnectionInterrupted,)
except ImportError:  # pragma: no cover
    pass


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, UNAVAILABLE_EXCEPTIONS) or (
        isinstance(exc, redis.exceptions.ResponseError) and "NOSCRIPT" not in str(exc) and "READONLY" in str(exc)
    )


def render_exception(exc: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for any exception; used by the DRF handler and the middleware."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        if exc.status_code == 503:
            headers["Retry-After"] = "2"
        return exc.status_code, error_body(exc.code, exc.message, exc.details), headers
    if isinstance(exc, (Http404, drf.NotFound)):
        return 404, error_body(ErrorCode.NOT_FOUND, "Not found."), headers
    if isinstance(exc, (DjangoPermissionDenied,)):
        return 403, error_body(ErrorCode.PERMISSION_DENIED, "You may not do this."), headers
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return 400, error_body(ErrorCode.VALIDATION_ERROR, exc.messages[0], details), headers
    if isinstance(exc, RequestDataTooBig) or getattr(exc, "default_code", None) == "payload_too_large":
        return 413, error_body(ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large."), headers
    if isinstance(exc, drf.Throttled):
        wait = math.ceil(exc.wait) if exc.wait is not None else 1
        headers["Retry-After"] = str(max(wait, 1))
        return 429, error_body(ErrorCode.THROTTLED, f"Too many requests; retry in {max(wait, 1)} s."), headers
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        message = _first_message(exc.detail, "Authentication is required.")
        return 401, error_body(ErrorCode.NOT_AUTHENTICATED, message), headers
    if isinstance(exc, drf.PermissionDenied):
        code = getattr(exc, "error_code", ErrorCode.PERMISSION_DENIED)
        return 403, error_body(code, _first_message(exc.detail, "You may not do this.")), headers
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, error_body(ErrorCode.METHOD_NOT_ALLOWED, str(exc.detail)), headers
    if isinstance(exc, drf.NotAcceptable):
        return 406, error_body(ErrorCode.NOT_ACCEPTABLE, str(exc.detail)), headers
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, error_body(ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(exc.detail)), headers
    if isinstance(exc, drf.ParseError):
        return 400, error_body(ErrorCode.VALIDATION_ERROR, f"Malformed request body: {exc.detail}"), headers
    if isinstance(exc, drf.ValidationError):
        details = _drf_details(exc.detail)
        message = _first_message(exc.detail, "The request is not valid.")
        return 400, error_body(ErrorCode.VALIDATION_ERROR, message, details), headers
    if isinstance(exc, drf.APIException):
        return exc.status_code, error_body(ErrorCode.VALIDATION_ERROR, str(exc.detail)), headers
    if is_unavailable(exc):
        logger.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        headers["Retry-After"] = "2"
        return 503, error_body(ErrorCode.SERVICE_UNAVAILABLE, ServiceUnavailable.default_message), headers
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        headers["Retry-After"] = "2"
        return 503, error_body(ErrorCode.SERVICE_UNAVAILABLE, ServiceUnavailable.default_message), headers
    logger.error("unhandled exception", exc_info=(type(exc), exc, exc.__traceback__))
    return 500, error_body(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side."), headers


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, body, headers = render_exception(exc)
    set_rollback()
    response = Response(body, status=status, headers=headers)
    request = context.get("request")
    if status == 401 and request is not None:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
