"""The waiting-room endpoints: enter, leave and the status poll. Crowds poll the waiting room, so its
endpoints check the access token in process and answer from Redis alone, in one round trip that also
carries the token's revocation check and the rate limits (apps/queue/access.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.error_codes import ErrorCode

from . import draw, services
from .access import require_verified_email
from .models import QueueStatus
from .waiting_room import (
    SEATS_AVAILABLE_HELP,
    SEATS_HELD_HELP,
    STATUS_HELP,
    QueueTargetSerializer,
    WaitingRoomApi,
    respond,
    shared,
    target,
)


class QueueEntrySerializer(QueueTargetSerializer):
    draw_nonce = serializers.RegexField(
        draw.NONCE,
        required=False,
        trim_whitespace=False,
        error_messages={"invalid": "1-64 printable ASCII characters."},
        help_text="Pre-queue entry: the buyer's part of the draw key (1-64 printable ASCII characters); "
        "the server makes a random one without it.",
    )


class QueueStateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    concert_date_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=QueueStatus.choices, help_text=STATUS_HELP)
    position = serializers.IntegerField(
        allow_null=True, help_text="1-based place in line; 0 when READY; null while pre-queued (not drawn yet)."
    )
    number = serializers.IntegerField(
        allow_null=True,
        help_text="While WAITING with a place: the buyer's number in the line, fixed for the wait (the line "
        "is admitted in ascending numbers; the event stream tells a page when its number's turn came). "
        "Null otherwise.",
    )
    estimated_wait_seconds = serializers.IntegerField(allow_null=True)
    token = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    poll_after_seconds = serializers.IntegerField(allow_null=True)
    draw_nonce = serializers.CharField(
        allow_null=True,
        required=False,
        help_text="While pre-queued: the nonce of the buyer's draw key (the one sent, or the server's).",
    )
    opens_at = serializers.DateTimeField(
        allow_null=True,
        help_text="While pre-queued: when the sale opens and every pre-queued buyer's place is drawn. "
        "Null once the sale is open.",
    )
    seats_available = serializers.IntegerField(min_value=0, help_text=SEATS_AVAILABLE_HELP)
    seats_held = serializers.IntegerField(min_value=0, help_text=SEATS_HELD_HELP)


STATE, ENTRY = shared(QueueStateSerializer()), shared(QueueEntrySerializer())


class QueueApi(WaitingRoomApi):
    """POST enters the line (rate-limited per user and per IP); DELETE leaves it (or gives back the
    access token)."""

    throttle_scope = "queue_enter"
    # THROTTLED too: counted by AccessCheck, not by a DRF throttle the schema could see.
    error_codes = {
        "post": (ErrorCode.BOOKING_CLOSED, ErrorCode.SOLD_OUT, ErrorCode.THROTTLED, ErrorCode.EMAIL_NOT_VERIFIED)
    }

    @extend_schema(
        request=QueueEntrySerializer,
        responses={200: QueueStateSerializer, 201: QueueStateSerializer},
        operation_id="queue_enter",
        description=(
            "Enter the concert date's line (201), or keep the place already held (200). From "
            "QUEUE_PREQUEUE_SECONDS before the sale opens the buyer joins the pre-queue (WAITING, "
            "`position` null, `opens_at` set) and gets a uniformly random place at the opening, ahead of "
            "everyone who enters later; its draw key is made with `draw_nonce` (sent, or the server's: the "
            "answer returns it; GET …/draw publishes the draw). Earlier than that: 409 BOOKING_CLOSED with "
            "`details.queue_opens_at`; after the show has started or with booking closed: 409 BOOKING_CLOSED. "
            "Into a date with no free seat and no live hold: 409 SOLD_OUT (a buyer already admitted gets READY; "
            "one already waiting keeps the place for when seats come back)."
        ),
    )
    def post(self, request: Request) -> Response:
        entry = ENTRY.run_validation(request.data)
        require_verified_email(request)
        state = services.enter_queue(user_id=request.user.id, **entry, access=self.access(request, limited=True))
        return respond(state, STATE, status.HTTP_201_CREATED if state.created else status.HTTP_200_OK)

    @extend_schema(parameters=[QueueTargetSerializer], responses={204: None}, operation_id="queue_leave")
    def delete(self, request: Request) -> Response:
        services.leave_queue(user_id=request.user.id, **target(request.query_params), access=self.access(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueStatusApi(WaitingRoomApi):
    @extend_schema(
        parameters=[QueueTargetSerializer], responses={200: QueueStateSerializer}, operation_id="queue_status"
    )
    def get(self, request: Request) -> Response:
        state = services.queue_status(
            user_id=request.user.id, **target(request.query_params), access=self.access(request)
        )
        return respond(state, STATE)
