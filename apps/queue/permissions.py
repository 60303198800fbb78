"""Queue-protected endpoints (seat map, holds, payments) need the date's access token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.client import Pipeline
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from apps.common.error_codes import ErrorCode

from .access import AccessCheck, QueueJWTAuthentication
from .middleware import mark_booking_path
from .tokens import token_check

HEADER = "X-Queue-Token"


class QueueTokenMissing(PermissionDenied):
    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED
    default_detail = "A valid queue access token for this concert date is required (X-Queue-Token)."


class QueueTokenRequired(BasePermission):
    """Allows the request when `X-Queue-Token` is an unexpired, unrevoked access token issued to
    this user for the concert date the view names (`view.get_queue_concert_date_id(request)`), and
    the buyer has not lost the place by idling. A request let through counts as activity, and is
    marked for BookingPathMiddleware, which reports writes to the admission controller.

    One Redis round trip for a read the buyer repeats (the seat map): when the view authenticates
    with `QueueJWTAuthentication`, the access token's revocation (`AccessCheck`) travels in the
    pipeline that checks the queue token, and so do the reads the view queues for its answer
    (`view.queue_reads(pipe, concert_date_id)`), whose replies are left in `view.read_replies` for a
    request let through. A request refused before that round trip (no queue token, an unknown date,
    a token refused in process) has its revocation checked first, in a round trip of its own: a
    revoked access token is 401 whatever else is wrong with the request, as when authentication
    checks it."""

    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED  # its refusal, for the OpenAPI schema (apps.common.schema)

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False  # IsAuthenticated answers 401 first
        deferred = isinstance(request.successful_authenticator, QueueJWTAuthentication)
        access = (
            AccessCheck.of(request, throttle_scope=getattr(view, "queue_check_throttle_scope", None))
            if deferred
            else None
        )
        with _revocation_first(access):
            token = request.headers.get(HEADER, "")
            if not token:
                # Before the date is looked up (a 404, or a 400 for the body): without a token nothing
                # else about the request matters, and the answer reveals nothing about any id.
                raise QueueTokenMissing()
            concert_date_id = view.get_queue_concert_date_id(request)
            check = (
                None
                if concert_date_id is None
                else token_check(token=token, user_id=user.id, concert_date_id=concert_date_id)
            )
            if check is None:
                raise QueueTokenMissing()
        queue_reads = getattr(view, "queue_reads", None)
        if access is None and queue_reads is None:
            valid = check.run()
        else:
            split = 0

            def before(pipe: Pipeline) -> None:
                nonlocal split
                if access is not None:
                    access.queue(pipe)
                split = len(pipe)
                if queue_reads is not None:
                    queue_reads(pipe, concert_date_id)

            replies, valid = check.run_in_round_trip(before=before)
            if access is not None:
                access.enforce(replies[:split])  # 401 before 403: the token's own verdict comes first
            if valid and queue_reads is not None:
                view.read_replies = replies[split:]
        if not valid:
            raise QueueTokenMissing()
        mark_booking_path(request._request, user_id=user.id, concert_date_id=concert_date_id)
        return True


class BookingWriteAuthMixin:
    """For a view whose POST needs the queue token (a hold, a payment): the POST authenticates in
    process (`QueueJWTAuthentication`: no user row is read) and its revocation check and rate
    limits (`throttle_scope`, per user and per IP) travel in `QueueTokenRequired`'s Redis round trip
    with the queue token check, instead of a round trip each. Other methods keep the defaults."""

    throttle_scope: str | None = None
    booking_write = False

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.booking_write = request.method == "POST"
        return super().initialize_request(request, *args, **kwargs)  # type: ignore[misc]

    def get_authenticators(self) -> list:
        return [QueueJWTAuthentication()] if self.booking_write else super().get_authenticators()  # type: ignore[misc]

    @property
    def queue_check_throttle_scope(self) -> str | None:
        return self.throttle_scope if self.booking_write else None


class AccessChecked(BasePermission):
    """For a request of a `BookingWriteAuthMixin` view that `QueueTokenRequired` does not check: its
    access token's revocation and its rate limits, in a round trip of their own."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if isinstance(request.successful_authenticator, QueueJWTAuthentication):
            AccessCheck.of(request, throttle_scope=getattr(view, "queue_check_throttle_scope", None)).check_now()
        return True


@contextmanager
def _revocation_first(access: AccessCheck | None) -> Iterator[None]:
    """A refusal raised in the block waits for the access token's revocation check, when it is
    deferred to this permission: 401 for a revoked token, else the refusal."""
    try:
        yield
    except Exception:
        if access is not None:
            access.check_now()
        raise
