"""The waiting room's gate in front of the booking path (the seat status and list, holds, payments):
what `apps.common.queue_gate.QueueGated` views run, named by `settings.QUEUE_GATE`.

`admit` checks a request's `X-Queue-Token` in one Redis round trip: the token's record and the
buyer's idle deadline (the CHECK script, which counts the request as activity: the deadline moves on,
or a buyer idle past it loses the place at once), the access token's revocation and the view's rate
limits (`AccessCheck`, when the request authenticated with `QueueJWTAuthentication`) and the view's
own reads (`queue_reads`). The date is the view's to say (`get_queue_concert_date_id`), or, for a
view that checks it itself (`queue_date_from_token`: the payment, whose service refuses a reservation
of another date under its lock), the one the token's signed claims name, with no read before the
round trip; a token refused then is refused as the view's date would have it (an unknown id is 404).
A request refused before that round trip (no queue token, an unknown date,
a token refused in process) has its revocation checked first, in a round trip of its own: a revoked
access token is 401 whatever else is wrong with the request, as when authentication checks it.

`QueueTokenRequired`, the permission, reads the verdict and writes nothing.

`finish` reports a write the gate let through (a hold, a payment) to the admission controller: its
latency, whether it was shed (a 503: the database ran out of lock waits or is down) and, for a hold
that succeeded (the view's `queue_seats_held`), its size (the admission's mean seats a hold) and that
the buyer's place lives as long as the hold: one script, queued into the request's
one round trip after commit (`apps.common.lua.run_soon`; a lost sample is only logged). The latency
is what the buyer waits: the time since the request reached the view plus, behind the proxy, the
time it queued for a free web worker. nginx stamps each request with `X-Request-Start: t=<epoch
seconds>` (deploy/nginx); when the web workers are saturated, requests wait there and not in Django,
and a controller that saw only the time in Django would go on admitting buyers into seconds of
queueing. The header is believed only behind a trusted proxy (apps/common/proxy.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpResponseBase
from redis.client import Pipeline
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.common import lua
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import QueueAccessRequired
from apps.common.proxy import queued_seconds
from apps.common.queue_gate import QueueAccess, QueueGated

from .access import AccessCheck, QueueJWTAuthentication
from .controller import booking_request_record
from .keys import now_ms
from .tokens import token_check

logger = logging.getLogger(__name__)

HEADER = "X-Queue-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class QueueTokenMissing(PermissionDenied):
    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED
    default_detail = QueueAccessRequired.default_message


class QueueTokenRequired(BasePermission):
    """Lets a gated request through when the gate admitted it (`view.queue_access`); 403
    QUEUE_TOKEN_REQUIRED otherwise. Reads the verdict only."""

    error_code = ErrorCode.QUEUE_TOKEN_REQUIRED  # its refusal, for the OpenAPI schema (apps.common.schema)

    def has_permission(self, request: Any, view: Any) -> bool:
        access: QueueAccess | None = getattr(view, "queue_access", None)
        if access is None or not access.admitted:
            raise QueueTokenMissing()
        return True


class QueueGate:
    authentication_class = QueueJWTAuthentication
    permission_class = QueueTokenRequired

    def admit(self, request: Request, view: QueueGated) -> QueueAccess:
        deferred = isinstance(request.successful_authenticator, QueueJWTAuthentication)
        access = AccessCheck.of(request, throttle_scope=view.throttle_scope) if deferred else None
        with _revocation_first(access):
            token = request.headers.get(HEADER, "")
            # A view that checks the date itself takes it from the token's signed claims (no lookup).
            check = token_check(token=token, user_id=request.user.id) if token and view.queue_date_from_token else None
            by_token = check is not None
            if check is None:
                # Before the date is looked up (a 404, or a 400 for the body): without a token nothing
                # else about the request matters, and the answer reveals nothing about any id.
                concert_date_id = view.get_queue_concert_date_id(request) if token else None
                check = (
                    None
                    if concert_date_id is None
                    else token_check(token=token, user_id=request.user.id, concert_date_id=concert_date_id)
                )
                if check is None:
                    raise QueueTokenMissing()
        concert_date_id = check.concert_date_id
        split = 0

        def before(pipe: Pipeline) -> None:
            nonlocal split
            if access is not None:
                access.queue(pipe)
            split = len(pipe)
            view.queue_reads(pipe, concert_date_id)

        replies, valid = check.run_in_round_trip(before=before)
        if access is not None:
            access.enforce(replies[:split])  # 401 before 403: the token's own verdict comes first
        if by_token and not valid:
            # Refused as without the token's date: an unknown id is 404 before the missing access's 403.
            view.get_queue_concert_date_id(request)
        return QueueAccess(
            concert_date_id=concert_date_id, admitted=valid, read_replies=tuple(replies[split:]) if valid else ()
        )

    def finish(
        self,
        request: Request,
        response: HttpResponseBase,
        access: QueueAccess,
        *,
        started: tuple[float, float],
        seats_held: int = 0,
    ) -> None:
        if access.concert_date_id is None or request.method in SAFE_METHODS:
            return
        started_at, started_perf = started
        # What the buyer waited: queued behind the proxy, then in the view.
        elapsed_ms = (queued_seconds(request._request.META, now=started_at) + time.perf_counter() - started_perf) * 1000
        held = seats_held if 200 <= response.status_code < 300 else 0
        record = booking_request_record(
            concert_date_id=access.concert_date_id,
            user_id=request.user.id,
            ms=elapsed_ms,
            shed=response.status_code == 503,
            keep_place_until_ms=now_ms() + settings.HOLD_TTL_SECONDS * 1000 if held else 0,
            seats_held=held,
        )
        # In the request's one round trip after commit, with the seat map's bump and the counts.
        lua.run_soon(record, failed=_record_lost)


def _record_lost(exc: Exception) -> None:
    # The answer is already decided; a lost sample must not turn it into an error.
    logger.warning("could not report a booking-path request to the admission controller", exc_info=exc)


@contextmanager
def _revocation_first(access: AccessCheck | None) -> Iterator[None]:
    """A refusal raised in the block waits for the access token's revocation check, when it is
    deferred to the gate: 401 for a revoked token, else the refusal."""
    try:
        yield
    except Exception:
        if access is not None:
            access.check_now()
        raise
