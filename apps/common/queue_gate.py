"""A view declares here that it serves admitted buyers only: its requests of `queue_gated_methods`
need the concert date's queue access token (`X-Queue-Token`).

The view says which date a request is about (`get_queue_concert_date_id`) and, if it wants, what it
reads from Redis in the gate's round trip (`queue_reads`; the replies are in
`view.queue_access.read_replies`). What the gate checks, and how, is the waiting room's: the class
named by `settings.QUEUE_GATE` gives the authentication and the permission of gated requests and
runs their two explicit steps:

- `admit`, once the user is authenticated and before the permissions are checked: the token and its
  record, the access token's revocation, the view's rate limits (`throttle_scope`) and the view's
  reads, in one Redis round trip; the outcome is `view.queue_access`;
- `finish`, once the answer is decided: what the waiting room records of a request it let through.

The whole request runs in `apps.common.lua.one_round_trip()`: what it owes Redis after commit (the
outbox's fast paths, the seat counts, the gate's record) leaves in one pipeline before the answer.

The gate's permission then only reads `view.queue_access`. Naming the gate by a setting lets the
catalogue, below the queue in the apps' layers, declare a gated view without importing the queue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Protocol

from django.conf import settings
from django.http import Http404, HttpResponseBase
from django.utils.module_loading import import_string
from redis.client import Pipeline
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from apps.common import lua
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import ApplicationError, render_exception


@dataclass(frozen=True, kw_only=True)
class QueueAccess:
    """The gate's verdict on one request: the date it is about (None when no token was required),
    whether it may go on (its queue token is the buyer's live one, or none was required), and the
    replies of the view's `queue_reads` (empty when none were read)."""

    concert_date_id: int | None
    admitted: bool
    read_replies: tuple[Any, ...] = ()


class QueueGate(Protocol):
    authentication_class: type
    permission_class: type

    def admit(self, request: Request, view: QueueGated) -> QueueAccess:
        """The explicit check of a gated request (raises 401, 404, 429 or 503 on its own, and 403
        QUEUE_TOKEN_REQUIRED for a missing token; a token that is not the buyer's live one is
        `admitted=False`)."""
        ...

    def finish(
        self,
        request: Request,
        response: HttpResponseBase,
        access: QueueAccess,
        *,
        started: tuple[float, float],
        seats_held: int = 0,
    ) -> None:
        """After the answer of an admitted request that reached the view at `started` (wall clock,
        `perf_counter`); `seats_held`: how many seats the request held (the view's `queue_seats_held`)."""
        ...


# The gate's refusals a view may still answer (`answers_without_queue_token`).
_VIEW_MAY_ANSWER = frozenset({ErrorCode.QUEUE_TOKEN_REQUIRED, ErrorCode.NOT_FOUND})


@cache
def queue_gate() -> QueueGate:
    return import_string(settings.QUEUE_GATE)()


class QueueGated:
    """Mix into an APIView whose `queue_gated_methods` need the date's queue access token. The gated
    requests authenticate and are permitted by the gate's classes and counted against the view's
    `throttle_scope` in the gate's round trip (not by DRF's throttles); other methods keep the view's."""

    queue_gated_methods: ClassVar[frozenset[str] | None] = None  # None: every method
    # True: the gate takes the date from the queue token's own signed claims when they name this user,
    # sparing `get_queue_concert_date_id` its read (asked only when the token is refused); the view then
    # refuses a request about another date than `queue_access.concert_date_id` itself (403
    # QUEUE_TOKEN_REQUIRED, `apps.common.exceptions.QueueAccessRequired`).
    queue_date_from_token: ClassVar[bool] = False
    throttle_scope: str | None = None
    queue_access: QueueAccess | None = None

    def get_queue_concert_date_id(self, request: Request) -> int | None:
        """The concert date the request is about (None: none it could be; raise 404 for an unknown one)."""
        raise NotImplementedError

    def queue_reads(self, pipe: Pipeline, concert_date_id: int) -> None:
        """Commands the view wants answered in the gate's round trip (none by default)."""

    def queue_seats_held(self, response: HttpResponseBase) -> int:
        """How many seats a successful request held, for the gate to record (none by default)."""
        return 0

    def answers_without_queue_token(self, request: Request) -> bool:
        """Asked only when the gate refused the request (no live queue token, 403, or no date it is
        about, 404): whether the view can answer it anyway (e.g. a payment's stored answer, replayed).
        The access token's revocation and the rate limits were checked already. None by default."""
        return False

    @property
    def queue_gated(self) -> bool:
        request = getattr(self, "request", None)  # Django's View.setup sets it before DRF's dispatch
        methods = self.queue_gated_methods
        return request is not None and (methods is None or request.method in methods)

    def get_authenticators(self) -> list:
        if self.queue_gated:
            return [queue_gate().authentication_class()]
        return super().get_authenticators()  # type: ignore[misc]

    def get_permissions(self) -> list:
        if self.queue_gated:
            return [IsAuthenticated(), queue_gate().permission_class()]
        return super().get_permissions()  # type: ignore[misc]

    def get_throttles(self) -> list:
        return [] if self.queue_gated else super().get_throttles()  # type: ignore[misc]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """The whole request in `lua.one_round_trip()`: the scripts it owes Redis after commit (the
        outbox's fast paths, the seat counts) and the gate's record (`finish`, in `finalize_response`)
        travel in one pipeline, sent before the response leaves; also when the view raises past
        DRF's exception handler, and never into the next request of the thread."""
        with lua.one_round_trip():
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def answer_directly(self, request: Request, *, started: tuple[float, float]) -> Any:
        """DRF's dispatch of a request that a fast path (apps.common.fast_path) has authenticated,
        negotiated (JSON) and read the input of already, from `started` (wall clock, `perf_counter`): the
        gate (`check_permissions`), the method's handler, DRF's exception handler and `finalize_response`
        (the gate's record), in the request's one round trip after commit, as `dispatch` runs them; no
        parser, negotiation or throttle classes, which the fast path's own checks stand for."""
        self.args, self.kwargs = (), {}
        self.request, self.headers, self.format_kwarg = request, self.default_response_headers, None  # type: ignore[attr-defined]
        self._started = started
        with lua.one_round_trip():
            try:
                self.check_permissions(request)
                response = getattr(self, request.method.lower())(request)
            except Exception as exc:
                response = self.handle_exception(exc)  # type: ignore[attr-defined]
            self.response = self.finalize_response(request, response)
        return self.response

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        self._started = (time.time(), time.perf_counter())  # when the request reached the view
        return super().initialize_request(request, *args, **kwargs)  # type: ignore[misc]

    def check_permissions(self, request: Request) -> None:
        if not (self.queue_gated and request.user and request.user.is_authenticated):
            return super().check_permissions(request)  # type: ignore[misc]
        try:
            self.queue_access = queue_gate().admit(request, self)
            super().check_permissions(request)  # type: ignore[misc]
        except (APIException, ApplicationError, Http404) as refused:
            # The view's own check costs only a refused request, never one on its way in. The refusal's
            # code is the one its answer would carry (however the 403 or 404 was raised).
            _, answer, _ = render_exception(refused)
            if answer["error"]["code"] not in _VIEW_MAY_ANSWER or not self.answers_without_queue_token(request):
                raise
            self.queue_access = QueueAccess(concert_date_id=None, admitted=True)

    def finalize_response(self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if self.queue_access is not None and self.queue_access.admitted:
            queue_gate().finish(
                request, response, self.queue_access, started=self._started, seats_held=self.queue_seats_held(response)
            )
        return response
