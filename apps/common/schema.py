"""The OpenAPI pieces every API module shares: the schema class, the id bounds, the headers, the
error shape.

Every operation's error answers are documented from what the view is: a body or query parameters can
be 400, authentication 401, the queue token 403, ids and pages 404, an Idempotency-Key 409, a body
413/415, throttles 429, an `Accept` without JSON 406, and anything that reaches the database or Redis
503. A view adds the codes only its service knows (`error_codes = (ErrorCode.SEAT_UNAVAILABLE, ...)`,
or a dict by HTTP method). Each documented status lists its codes in its description, in
`x-error-codes` and as one example each; the body is the one `Error` component. The contract test
(tests/contract) refuses any error answer whose code its operation does not list for that status.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from django.http import QueryDict
from django.utils.functional import cached_property
from drf_spectacular.drainage import get_override, set_override
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from .error_codes import MEANING_OF, STATUS_OF, ErrorCode
from .idempotency import KEY_PATTERN

# Bounds of a primary key in a request (a BIGINT): a larger number is a 400, not a database error.
ID = {"min_value": 1, "max_value": 2**63 - 1}


def request_header(
    name: str, description: str, *, required: bool = False, pattern: str | None = None
) -> OpenApiParameter:
    """A request header a view reads, as an OpenAPI parameter."""
    return OpenApiParameter(
        name, str, OpenApiParameter.HEADER, required=required, description=description, pattern=pattern
    )


QUEUE_TOKEN_PARAMETER = request_header(
    "X-Queue-Token",
    "The access token the waiting queue issued for this user and concert date (403 QUEUE_TOKEN_REQUIRED "
    "without a valid one).",
    required=True,
)
# A payment needs the token too, except when it repeats, with its Idempotency-Key, one that completed
# (the payment ended the queue access; the stored answer is replayed): so the schema cannot call the
# header required there.
PAYMENT_QUEUE_TOKEN_PARAMETER = request_header(
    "X-Queue-Token",
    "The access token the waiting queue issued for this user and the reservation's concert date: needed "
    "(403 QUEUE_TOKEN_REQUIRED without a valid one) unless the Idempotency-Key names a payment that "
    "completed, whose answer is then replayed.",
)
IDEMPOTENCY_PARAMETER = request_header(
    "Idempotency-Key",
    "Replays the first response for the same key and body; another body is 409 IDEMPOTENCY_CONFLICT. "
    "1 to 255 visible ASCII characters (a UUID, say).",
    pattern=KEY_PATTERN,
)


STATUS_MEANING = {
    400: "The request is not valid",
    401: "Authentication failed",
    403: "Not allowed",
    404: "Not found",
    406: "Not acceptable",
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
        responses = operation["responses"]
        for status, codes in sorted(self.error_codes(operation).items()):
            response = responses.setdefault(str(status), {"content": {"application/json": {"schema": error}}})
            listed = "\n".join(f"- `{code}`: {MEANING_OF[ErrorCode(code)]}" for code in codes)
            response["description"] = f"{STATUS_MEANING.get(status, 'Error')}. `error.code` is one of:\n\n{listed}"
            response["x-error-codes"] = codes
            body = response["content"]["application/json"]
            if body["schema"] == error:  # not the health checks' own body
                body["examples"] = {
                    code: {"summary": MEANING_OF[ErrorCode(code)], "value": _error_example(code)} for code in codes
                }
            if status in ERROR_HEADERS:
                response["headers"] = {**ERROR_HEADERS[status], **response.get("headers", {})}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict:
        self._mapping_direction = direction  # read by _insert_field_validators, which is not told
        try:
            return super()._map_basic_serializer(serializer, direction)
        finally:
            self._mapping_direction = None

    def _insert_field_validators(self, field: Any, schema: dict) -> None:
        """Text in a request states what DRF does with it: a NUL character anywhere is refused, and a
        trimmed field (DRF's default) is checked for blankness and measured after its surrounding
        whitespace is stripped, which a pattern can state and a raw maxLength cannot ("   " is blank,
        and 50 spaces around 100 letters fit a max_length of 100)."""
        super()._insert_field_validators(field, schema)
        if (
            getattr(self, "_mapping_direction", None) != "request"
            or not isinstance(field, serializers.CharField)
            or schema.get("type") != "string"
            or {"pattern", "format", "enum"} & set(schema)
            or any(isinstance(validator, RegexValidator) for validator in field.validators)
        ):
            return
        if not field.trim_whitespace:
            schema["pattern"] = r"^[^\x00]*$"
            return
        # From the first to the last non-whitespace character (at most max_length of them), with any
        # whitespace around; where blank is allowed, the text may be missing.
        if field.max_length == 1:
            text = r"[^\s\x00]"
        else:
            inner = f"{{0,{field.max_length - 2}}}" if field.max_length else "*"
            text = rf"[^\s\x00](?:[^\x00]{inner}[^\s\x00])?"
        schema["pattern"] = rf"^\s*(?:{text})?\s*$" if field.allow_blank else rf"^\s*{text}\s*$"
        schema.pop("maxLength", None)

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
        for permission in view.get_permissions():
            if not isinstance(permission, (AllowAny, IsAuthenticated)):
                # A permission that refuses with a code of its own says so (QueueTokenRequired).
                codes.append(getattr(permission, "error_code", ErrorCode.PERMISSION_DENIED))
        names = {name for _, name in located} | body_fields
        if any(where == "path" for where, _ in located) or any(name.endswith(("_id", "_ids")) for name in names):
            codes.append(ErrorCode.NOT_FOUND)
        if ("query", "page") in located:
            codes.append(ErrorCode.NOT_FOUND)  # a page past the last
        if ("header", IDEMPOTENCY_PARAMETER.name) in located:
            codes += [ErrorCode.VALIDATION_ERROR, ErrorCode.IDEMPOTENCY_CONFLICT]  # a malformed key, a reused one
        if has_body:
            codes += [ErrorCode.PAYLOAD_TOO_LARGE, ErrorCode.UNSUPPORTED_MEDIA_TYPE]
        if view.get_throttles() and getattr(view, "throttle_scope", None):
            codes.append(ErrorCode.THROTTLED)  # every throttle here counts a named scope, none without one
        codes.append(ErrorCode.NOT_ACCEPTABLE)  # content negotiation runs on every operation
        if getattr(view, "may_be_unavailable", True):
            codes.append(ErrorCode.SERVICE_UNAVAILABLE)
        declared = getattr(view, "error_codes", ())
        if isinstance(declared, dict):
            declared = declared.get(self.method.lower(), ())
        by_status: dict[int, list[str]] = {}
        for code in sorted({*codes, *declared}, key=list(ErrorCode).index):
            by_status.setdefault(STATUS_OF[code], []).append(code.value)
        return by_status

    def _request_field_names(self) -> set[str]:
        serializer = self.get_request_serializer()
        if isinstance(serializer, type) and issubclass(serializer, serializers.BaseSerializer):
            serializer = serializer()
        fields = getattr(serializer, "fields", None)
        return set(fields) if fields is not None else set()


_RETRY_AFTER = {"schema": {"type": "integer", "minimum": 1}, "required": True, "description": "Seconds to wait."}
ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True, "description": '`Bearer realm="api"`'}},
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}


def _error_example(code: str) -> dict[str, Any]:
    details = {"field": ["What is wrong with it."]} if code == ErrorCode.VALIDATION_ERROR else {}
    return {"error": {"code": code, "message": MEANING_OF[ErrorCode(code)].capitalize() + ".", "details": details}}


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


def plain_id(text: str) -> int | None:
    """`text` as an id when it is a plain positive integer in the id range (ASCII digits only: no sign,
    space or other digits), else None: for the hot paths that read an id without a serializer."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if ID["min_value"] <= value <= ID["max_value"] else None


def json_id(value: Any) -> bool:
    """`value` is a JSON integer (not a boolean, float or string) in the id range, as `JsonInput`'s id
    fields take it: `plain_id` for a value parsed from a JSON body (the hot paths' fast reading)."""
    return type(value) is int and ID["min_value"] <= value <= ID["max_value"]


def shown(field: serializers.Field, value: Any) -> Any:
    """`field`'s representation of `value`, None staying None, as a serializer renders a field: for the
    answers built directly from fields made once (a ModelSerializer builds them for every instance)."""
    return None if value is None else field.to_representation(value)


def _json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """Why `value`, read from JSON, is not of the type the schema gives `field` (None if it is)."""
    if value is None:
        return None  # the field's own allow_null answers for it
    if isinstance(field, serializers.ListField):
        if isinstance(value, list) and field.child is not None:
            problems = (_json_type_problem(field.child, item) for item in value)
            return next((problem for problem in problems if problem), None)
        return None  # the field refuses anything but a list itself
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        return None if isinstance(value, int) and not isinstance(value, bool) else "Must be a whole number."
    if isinstance(field, serializers.CharField):
        return None if isinstance(value, str) else "Must be a string."
    return None


# Each thread's input fields, by serializer class (JsonInput.fields).
_input_fields = threading.local()


class JsonInput(serializers.Serializer):
    """The input of a JSON request body: every field takes only its own JSON type, as the schema says
    (DRF alone reads 5 as "5" for a string and "5" or 5.0 as 5 for an integer, and a client built from
    the schema must not come to rely on that). Query parameters (a QueryDict) are text and are left to
    the fields.

    Its fields are made once per class and thread and bound to each new instance (`fields`), where DRF
    deep-copies and binds every declared field for every instance: that was two thirds of validating a
    hold's body. An input serializer's fields keep nothing of a request (errors and validated data
    live on the serializer), no subclass changes its fields per instance, and a thread validates one
    body of a class at a time."""

    @cached_property
    def fields(self) -> Any:
        kept = _input_fields.__dict__.setdefault("by_class", {})
        fields = kept.get(type(self))
        if fields is None:
            fields = kept[type(self)] = super().fields
        else:
            fields.serializer = self
            for field in fields.values():
                field.parent = self
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict) or isinstance(data, QueryDict):
            return super().to_internal_value(data)
        wrong = {
            name: [problem]
            for name, field in self.fields.items()
            if name in data and not field.read_only and (problem := _json_type_problem(field, data[name]))
        }
        try:
            validated = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **wrong}) from None
        if wrong:
            raise serializers.ValidationError(wrong)
        return validated


def amount_pattern(maximum: Decimal) -> str:
    """The plain decimal strings from 0.01 to `maximum` (whole) with at most two decimals, leading
    zeros allowed: exactly the strings the money fields take (tests/contract/test_schema_errors.py)."""
    top = str(int(maximum))
    fraction = r"(?:\.[0-9]{1,2})?"
    branches = [r"0\.(?:0[1-9]|[1-9][0-9]?)"]  # under 1
    if len(top) > 1:
        branches.append(f"[1-9][0-9]{{0,{len(top) - 2}}}{fraction}")  # fewer digits than the maximum
    for i, digit in enumerate(top):  # as many digits: equal up to position i, smaller there
        lowest = 1 if i == 0 else 0
        if int(digit) > lowest:
            branches.append(f"{top[:i]}[{lowest}-{int(digit) - 1}][0-9]{{{len(top) - i - 1}}}{fraction}")
    branches.append(f"{top}(?:\\.0{{1,2}})?")  # the maximum itself
    return f"^0*(?:{'|'.join(branches)})$"


def amount_schema(maximum: Decimal) -> dict[str, Any]:
    """A money amount in a request: a plain decimal string or a JSON number, from 0.01 to `maximum`,
    at most two decimals."""
    return {
        "oneOf": [
            {"type": "string", "pattern": amount_pattern(maximum), "example": "50000.00"},
            {"type": "number", "minimum": 0.01, "maximum": float(maximum), "multipleOf": 0.01},
        ],
        "description": f"A decimal string with at most two places, or a JSON number; 0.01 to {maximum}.",
    }
