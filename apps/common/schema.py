"""The OpenAPI pieces every API module shares: the schema class, the id bounds, the headers, the
error shape.

Every operation's error answers are documented from what the view is: a body or query parameters can
be 400, authentication 401, the queue token 403, ids 404, an Idempotency-Key 409, a body 413/415,
throttles 429, and anything that reaches the database or Redis 503. A view adds the codes only its
service knows (`error_codes = (ErrorCode.SEAT_UNAVAILABLE, ...)`, or a dict by HTTP method). Each
documented status lists its codes in its description; the body is the one `Error` component.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.drainage import get_override, set_override
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from .error_codes import STATUS_OF, ErrorCode

# Bounds of a primary key in a request (a BIGINT): a larger number is a 400, not a database error.
ID = {"min_value": 1, "max_value": 2**63 - 1}


def request_header(name: str, description: str, *, required: bool = False) -> OpenApiParameter:
    """A request header a view reads, as an OpenAPI parameter."""
    return OpenApiParameter(name, str, OpenApiParameter.HEADER, required=required, description=description)


QUEUE_TOKEN_PARAMETER = request_header(
    "X-Queue-Token", "The access token the waiting queue issued for this user and concert date.", required=True
)
IDEMPOTENCY_PARAMETER = request_header(
    "Idempotency-Key",
    "Replays the first response for the same key and body; another body is 409 IDEMPOTENCY_CONFLICT.",
)


STATUS_MEANING = {
    400: "The request is not valid",
    401: "Authentication failed",
    403: "Not allowed",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The body is too large",
    415: "The body is not JSON",
    429: "Rate limit hit; Retry-After says when to try again",
    503: "A dependency is down or overloaded; nothing was changed; Retry-After says when to try again",
}


class AutoSchema(BaseAutoSchema):
    """Names the nested `InputSerializer`/`OutputSerializer` of a view after the view
    (`SignupApi.InputSerializer` → `SignupApiInput`), so every component name is distinct, and
    documents every operation's error answers (module docstring)."""

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace(".", "").replace("Serializer", "")
        return super().get_serializer_name(serializer, direction)

    def get_operation(self, *args: Any, **kwargs: Any) -> dict | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for status, codes in sorted(self.error_codes(operation).items()):
            response = operation["responses"].setdefault(
                str(status), {"content": {"application/json": {"schema": error}}}
            )
            listed = ", ".join(f"`{code}`" for code in codes)
            response["description"] = f"{STATUS_MEANING.get(status, 'Error')}: {listed}."
        return operation

    def error_codes(self, operation: dict) -> dict[int, list[str]]:
        """The error codes this operation can answer, by status."""
        view = self.view
        parameters = operation.get("parameters", [])
        located = {(parameter["in"], parameter["name"]) for parameter in parameters}
        has_body = "requestBody" in operation
        body_fields = self._request_field_names() if has_body else set()
        codes: list[ErrorCode] = []
        if has_body or any(where == "query" for where, _ in located):
            codes.append(ErrorCode.VALIDATION_ERROR)
        if view.get_authenticators():
            codes.append(ErrorCode.NOT_AUTHENTICATED)
        if ("header", QUEUE_TOKEN_PARAMETER.name) in located:
            codes.append(ErrorCode.QUEUE_TOKEN_REQUIRED)
        if any(not isinstance(permission, (AllowAny, IsAuthenticated)) for permission in view.get_permissions()):
            codes.append(ErrorCode.PERMISSION_DENIED)
        names = {name for _, name in located} | body_fields
        if any(where == "path" for where, _ in located) or any(name.endswith(("_id", "_ids")) for name in names):
            codes.append(ErrorCode.NOT_FOUND)
        if ("header", IDEMPOTENCY_PARAMETER.name) in located:
            codes.append(ErrorCode.IDEMPOTENCY_CONFLICT)
        if has_body:
            codes += [ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.UNSUPPORTED_MEDIA_TYPE]
        if view.get_throttles():
            codes.append(ErrorCode.THROTTLED)
        if getattr(view, "may_be_unavailable", True):
            codes.append(ErrorCode.SERVICE_UNAVAILABLE)
        declared = getattr(view, "error_codes", ())
        if isinstance(declared, dict):
            declared = declared.get(self.method.lower(), ())
        by_status: dict[int, list[str]] = {}
        for code in [*codes, *declared]:
            listed = by_status.setdefault(STATUS_OF[code], [])
            if code.value not in listed:
                listed.append(code.value)
        return by_status

    def _request_field_names(self) -> set[str]:
        serializer = self.get_request_serializer()
        if isinstance(serializer, type) and issubclass(serializer, serializers.BaseSerializer):
            serializer = serializer()
        fields = getattr(serializer, "fields", None)
        return set(fields) if fields is not None else set()


class ErrorDetailSerializer(serializers.Serializer):
    """The inside of every error answer: a stable code, a message for people, details for programs."""

    code = serializers.ChoiceField(choices=[code.value for code in ErrorCode])
    message = serializers.CharField()
    details = serializers.DictField(
        help_text="Per-field messages for VALIDATION_ERROR; facts such as seat_ids for 409s."
    )

    class Meta:
        ref_name = "ErrorDetail"


class ErrorSerializer(serializers.Serializer):
    """`{"error": {"code", "message", "details"}}`: the one shape of every 4xx and 5xx answer."""

    error = ErrorDetailSerializer()


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "minimum": ID["min_value"], "maximum": ID["max_value"]},
        "uniqueItems": True,
    }
)
class UniqueIdListField(serializers.ListField):
    """A list of distinct ids (`uniqueItems` in the schema); a repeated id is 400 VALIDATION_ERROR.
    The length bounds (`min_length`/`max_length`) are added to the schema as minItems/maxItems."""

    default_error_messages = {"duplicate": "An id is listed twice."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.IntegerField(**ID), **kwargs)
        bounds = {"minItems": self.min_length, "maxItems": self.max_length}
        schema = {**get_override(self, "field"), **{key: value for key, value in bounds.items() if value is not None}}
        set_override(self, "field", schema)

    def to_internal_value(self, data: Any) -> list[int]:
        values = super().to_internal_value(data)
        if len(set(values)) != len(values):
            self.fail("duplicate")
        return values
