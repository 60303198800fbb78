"""Queue-protected endpoints (seat map, holds, payments) need the date's access token."""

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from apps.common.error_codes import ErrorCode

from .middleware import mark_booking_path
from .tokens import check_access_token

HEADER = "X-Queue-Token"


class QueueTokenMissing(PermissionDenied):
    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED
    default_detail = "A valid queue access token for this concert date is required (X-Queue-Token)."


class QueueTokenRequired(BasePermission):
    """Allows the request when `X-Queue-Token` is an unexpired, unrevoked access token issued to
    this user for the concert date the view names (`view.get_queue_concert_date_id(request)`), and
    the buyer has not lost the place by idling. A request let through counts as activity, and is
    marked for BookingPathMiddleware, which reports writes to the admission controller."""

    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED  # its refusal, for the OpenAPI schema (apps.common.schema)

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False  # IsAuthenticated answers 401 first
        token = request.headers.get(HEADER, "")
        if not token:
            # Before the date is looked up (a 404, or a 400 for the body): without a token nothing
            # else about the request matters, and the answer reveals nothing about any id.
            raise QueueTokenMissing()
        concert_date_id = view.get_queue_concert_date_id(request)
        if concert_date_id is None or not check_access_token(
            token=token, user_id=user.id, concert_date_id=concert_date_id
        ):
            raise QueueTokenMissing()
        mark_booking_path(request._request, user_id=user.id, concert_date_id=concert_date_id)
        return True
