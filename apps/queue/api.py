"""The waiting-room endpoints, and the seat map of the buyers it admits. Crowds poll the waiting
room, so its endpoints check the access token in process and answer from Redis alone, in one round
trip that also carries the token's revocation check and the rate limits (apps/queue/access.py); the
seat map's reads likewise check the revocation, the queue token and read the map's version in one."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from redis.client import Pipeline
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.schema import ID, QUEUE_TOKEN_PARAMETER, JsonInput
from apps.concerts import seat_map as catalogue_seat_map
from apps.concerts import selectors as catalogue
from apps.concerts.models import SeatStatus
from apps.concerts.seat_map_http import (
    ACCEPT_ENCODING,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PRIVATE_CACHE_CONTROL,
    response_headers,
    stored_response,
)
from apps.concerts.serializers import SeatSerializer

from . import draw, services
from .access import AccessCheck, QueueJWTAuthentication, require_verified_email
from .models import QueueStatus
from .permissions import QueueTokenRequired


class QueueTargetSerializer(JsonInput):
    concert_id = serializers.IntegerField(**ID)
    concert_date_id = serializers.IntegerField(**ID)


class QueueEntrySerializer(QueueTargetSerializer):
    draw_nonce = serializers.RegexField(
        draw.NONCE,
        required=False,
        trim_whitespace=False,
        error_messages={"invalid": "1-64 printable ASCII characters."},
        help_text="Pre-queue entry: the buyer's part of the draw key (1-64 printable ASCII characters); "
        "the server makes a random one without it.",
    )


STATUS_HELP = (
    "WAITING: in line (`position` 1 = next) or, before the sale opens, in the pre-queue (`position` null, "
    "`opens_at` set: places are drawn at random at the opening); READY: admitted, `token` is the access "
    "token; NOT_IN_QUEUE: never entered, left, or the access ended (expired, idle, paid); SOLD_OUT: the date "
    "has no free seat and no live hold (`position`, `token` and `poll_after_seconds` null: stop asking; the "
    "line keeps its order and reopens if seats come back). An admitted buyer stays READY when it sells out."
)
SEATS_AVAILABLE_HELP = "The date's free seats now (read in the same Redis round trip as the rest of the answer)."
SEATS_HELD_HELP = (
    "The date's seats in live holds. While `seats_available` is 0 and this is not, the status stays WAITING "
    "and polls slowly: held seats may come back."
)


class QueueStateSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    concert_date_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=QueueStatus.choices, help_text=STATUS_HELP)
    position = serializers.IntegerField(
        allow_null=True, help_text="1-based place in line; 0 when READY; null while pre-queued (not drawn yet)."
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


class ReservationTokenSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    concert_date_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=QueueStatus.choices, help_text=STATUS_HELP)
    position = serializers.IntegerField(allow_null=True)
    token = serializers.CharField(allow_null=True)
    expiry_time = serializers.DateTimeField(allow_null=True, source="expires_at")
    seats_available = serializers.IntegerField(min_value=0, help_text=SEATS_AVAILABLE_HELP)
    seats_held = serializers.IntegerField(min_value=0, help_text=SEATS_HELD_HELP)


# Built once and shared: DRF deep-copies every declared field for each new serializer instance,
# ~110 µs of a poll's Python time for these three (the request's whole queue work is one Redis round
# trip). Validating and rendering keep nothing on the instance, so sharing is safe.
TARGET, STATE, TOKEN = QueueTargetSerializer(), QueueStateSerializer(), ReservationTokenSerializer()
ENTRY = QueueEntrySerializer()
for _shared in (TARGET, STATE, TOKEN, ENTRY):
    _shared.fields  # noqa: B018 (bind the fields now, not racing on the first requests)


def _target(data: object) -> dict[str, int]:
    """concert_id and concert_date_id, or 400 VALIDATION_ERROR naming the bad ones."""
    return TARGET.run_validation(data)


def _respond(
    state: services.QueueState, http_status: int = status.HTTP_200_OK, shape: serializers.Serializer = STATE
) -> Response:
    response = Response(shape.to_representation(state), status=http_status)
    if state.poll_after_seconds:
        response["Retry-After"] = str(state.poll_after_seconds)
    return response


class WaitingRoomApi(APIView):
    """The crowd's endpoints: the access token is checked in process, and its revocation and the
    rate limits travel in the queue operation's own Redis round trip (`AccessCheck`), so a request
    costs one round trip (docs/PERFORMANCE.md)."""

    authentication_classes = [QueueJWTAuthentication]
    throttle_classes: list = []  # counted by AccessCheck, in the queue operation's round trip
    throttle_scope: str | None = None

    def access(self, request: Request, *, limited: bool = False) -> AccessCheck:
        return AccessCheck.of(request, throttle_scope=self.throttle_scope if limited else None)


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
        target = ENTRY.run_validation(request.data)
        require_verified_email(request)
        state = services.enter_queue(user_id=request.user.id, **target, access=self.access(request, limited=True))
        return _respond(state, status.HTTP_201_CREATED if state.created else status.HTTP_200_OK)

    @extend_schema(parameters=[QueueTargetSerializer], responses={204: None}, operation_id="queue_leave")
    def delete(self, request: Request) -> Response:
        target = _target(request.query_params)
        services.leave_queue(user_id=request.user.id, **target, access=self.access(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueStatusApi(WaitingRoomApi):
    @extend_schema(
        parameters=[QueueTargetSerializer], responses={200: QueueStateSerializer}, operation_id="queue_status"
    )
    def get(self, request: Request) -> Response:
        target = _target(request.query_params)
        return _respond(services.queue_status(user_id=request.user.id, **target, access=self.access(request)))


class ReservationTokenApi(WaitingRoomApi):
    """`POST /api/reservations/token` (docs/API.md): enter (or stay in) the line and get its state, the
    token's expiry as `expiry_time`."""

    throttle_scope = "queue_enter"
    error_codes = (
        ErrorCode.BOOKING_CLOSED,
        ErrorCode.SOLD_OUT,
        ErrorCode.THROTTLED,
        ErrorCode.EMAIL_NOT_VERIFIED,
    )  # AccessCheck: THROTTLED

    @extend_schema(
        request=QueueTargetSerializer, responses={200: ReservationTokenSerializer}, operation_id="reservation_token"
    )
    def post(self, request: Request) -> Response:
        target = _target(request.data)
        require_verified_email(request)
        state = services.enter_queue(user_id=request.user.id, **target, access=self.access(request, limited=True))
        return _respond(state, shape=TOKEN)


class QueueProtectedDateApi(APIView):
    """A read of one concert date's seat map for its admitted buyers, polled while they choose: login
    from the token's claims (no database), the date's queue access token, and the map's version, in
    one Redis round trip. QueueTokenRequired checks the access token's revocation (deferred by
    QueueJWTAuthentication, as in the waiting room) and the queue token in one pipeline, which also
    carries the version read this view queues (`queue_reads`)."""

    authentication_classes = [QueueJWTAuthentication]
    permission_classes = [IsAuthenticated, QueueTokenRequired]
    read_replies: list | None = None  # set by QueueTokenRequired: the replies of `queue_reads`

    def get_queue_concert_date_id(self, request: Request) -> int:
        """The date of the URL, once it is known to belong to the URL's concert (404 otherwise,
        before the token is looked at, so that a token never reveals another concert's dates)."""
        return catalogue.date_of_concert(
            concert_id=self.kwargs["concert_id"], concert_date_id=self.kwargs["concert_date_id"]
        ).concert_date_id

    def queue_reads(self, pipe: Pipeline, concert_date_id: int) -> None:
        catalogue_seat_map.queue_version_read(pipe, concert_date_id)

    def map_version(self, concert_date_id: int) -> int | None:
        """The map version read in the token check's round trip (None: not read, read it now)."""
        if self.read_replies is None:
            return None
        return catalogue_seat_map.version_from_reply(concert_date_id, self.read_replies[0])


class SeatStatusApi(QueueProtectedDateApi):
    """Each seat's status in layout order, one character a seat."""

    class OutputSerializer(serializers.Serializer):
        concert_date_id = serializers.IntegerField()
        layout_version = serializers.IntegerField(help_text="The layout these codes follow.")
        version = serializers.IntegerField(
            help_text="Moves with every committed seat change (a hold ending changes the codes and the ETag only)."
        )
        codes = serializers.CharField(
            help_text="One character per seat in layout order: A available, H held, R reserved."
        )

    @extend_schema(
        parameters=[QUEUE_TOKEN_PARAMETER, IF_NONE_MATCH, ACCEPT_ENCODING, *response_headers(PRIVATE_CACHE_CONTROL)],
        responses={200: OutputSerializer, 304: NOT_MODIFIED},
        operation_id="seat_status_retrieve",
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        status = catalogue_seat_map.seat_status(
            concert_date_id=concert_date_id, version=self.map_version(concert_date_id)
        )
        return stored_response(request, status.rendered, cache_control=PRIVATE_CACHE_CONTROL)


class SeatListApi(QueueProtectedDateApi):
    """Every seat of the date with its status (or one status only), from the same stored layout and
    status as the seat-layout and seat-status endpoints."""

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=SeatStatus.choices,
            required=False,
            allow_blank=True,  # `?status=` is no filter, like a form left blank (and the schema says so)
            help_text="Only seats with this status; empty for all.",
        )

    @extend_schema(
        parameters=[InputSerializer, QUEUE_TOKEN_PARAMETER, IF_NONE_MATCH, ACCEPT_ENCODING,
                    *response_headers(PRIVATE_CACHE_CONTROL)],
        responses={200: SeatSerializer(many=True), 304: NOT_MODIFIED},
        operation_id="seats_list",
    )  # fmt: skip
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rendered = catalogue_seat_map.seat_list(
            concert_date_id=concert_date_id,
            status=filters.validated_data.get("status") or None,
            version=self.map_version(concert_date_id),
        )
        return stored_response(request, rendered, cache_control=PRIVATE_CACHE_CONTROL)
