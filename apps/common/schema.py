"""The OpenAPI pieces every API module shares: the schema class, the id bounds, the headers."""

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from .error_codes import ErrorCode

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


class AutoSchema(BaseAutoSchema):
    """Names the nested `InputSerializer`/`OutputSerializer` of a view after the view
    (`SignupApi.InputSerializer` → `SignupApiInput`), so every component name is distinct."""

    def get_serializer_name(self, serializer, direction):
        qualname = type(serializer).__qualname__
        if "." in qualname:
            return qualname.replace(".", "").replace("Serializer", "")
        return super().get_serializer_name(serializer, direction)


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
