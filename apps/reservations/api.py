"""The reservation endpoints: the line's reservation token, holds (picked seats or best available),
a buyer's reservations, and cancelling one."""

from django.conf import settings
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.schema import ID, QUEUE_TOKEN_PARAMETER, JsonInput, UniqueIdListField
from apps.common.views import ValidatedInputMixin
from apps.concerts.seat_map_http import MapVersionInGateTrip
from apps.queue import services as queue
from apps.queue import waiting_room
from apps.queue.access import require_verified_email
from apps.queue.models import QueueStatus

from . import selectors, services
from .serializers import ReservationSerializer


class ReservationTokenSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    concert_id = serializers.IntegerField()
    concert_date_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=QueueStatus.choices, help_text=waiting_room.STATUS_HELP)
    position = serializers.IntegerField(allow_null=True)
    token = serializers.CharField(allow_null=True)
    expiry_time = serializers.DateTimeField(allow_null=True, source="expires_at")
    seats_available = serializers.IntegerField(min_value=0, help_text=waiting_room.SEATS_AVAILABLE_HELP)
    seats_held = serializers.IntegerField(min_value=0, help_text=waiting_room.SEATS_HELD_HELP)


TOKEN = waiting_room.shared(ReservationTokenSerializer())


class ReservationTokenApi(waiting_room.WaitingRoomApi):
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
        request=waiting_room.QueueTargetSerializer,
        responses={200: ReservationTokenSerializer},
        operation_id="reservation_token",
    )
    def post(self, request: Request) -> Response:
        entry = waiting_room.target(request.data)
        require_verified_email(request)
        state = queue.enter_queue(user_id=request.user.id, **entry, access=self.access(request, limited=True))
        return waiting_room.respond(state, TOKEN)


class ReservationListCreateApi(MapVersionInGateTrip, ValidatedInputMixin, generics.GenericAPIView):
    """GET lists the caller's reservations; POST holds seats (needs the date's queue token: the queue
    gate, which also reads the seat map's version in its round trip)."""

    serializer_class = ReservationSerializer
    queue_gated_methods = frozenset({"POST"})
    throttle_scope = "hold"
    error_codes = {
        "post": (
            ErrorCode.SEAT_UNAVAILABLE,
            ErrorCode.NOT_ENOUGH_SEATS,
            ErrorCode.BOOKING_CLOSED,
            ErrorCode.HOLD_LIMIT_REACHED,
            ErrorCode.THROTTLED,  # counted in the queue gate's round trip
        )
    }
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return selectors.reservations_of(user=self.request.user)

    @extend_schema(operation_id="reservations_list", responses={200: ReservationSerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    class InputSerializer(JsonInput):
        """Either `seat_ids` (the seats the buyer picked) or `quantity` (best available), not both."""

        concert_date_id = serializers.IntegerField(**ID)
        seat_ids = UniqueIdListField(
            min_length=1,
            max_length=settings.MAX_SEATS_PER_RESERVATION,
            required=False,
            error_messages={"duplicate": "A seat is listed twice."},
            help_text="The seats to hold. Leave out to have the server choose (`quantity`).",
        )
        quantity = serializers.IntegerField(
            min_value=1,
            max_value=settings.MAX_SEATS_PER_RESERVATION,
            required=False,
            help_text="Best available: how many seats the server chooses (instead of `seat_ids`).",
        )
        section = serializers.CharField(
            required=False,
            max_length=100,
            help_text="Best available: the section to choose in; every section in layout order without it.",
        )
        together = serializers.BooleanField(
            default=True,
            help_text="Best available: side by side in one row only (default); false also accepts the free "
            "seats nearest each other in one section when no row has them side by side.",
        )

        def validate(self, data: dict) -> dict:
            if ("seat_ids" in data) == ("quantity" in data):
                raise serializers.ValidationError(
                    {"quantity": ["Send either seat_ids or quantity (best available), not both or neither."]}
                )
            if "seat_ids" in data and ("section" in data or "together" in self.initial_data):
                raise serializers.ValidationError({"section": ["section and together go with quantity only."]})
            return data

    def get_queue_concert_date_id(self, request: Request) -> int:
        return self.get_input(request)["concert_date_id"]

    def queue_seats_held(self, response: HttpResponseBase) -> int:
        data = getattr(response, "data", None)
        return len(data["seats"]) if response.status_code == 201 and isinstance(data, dict) else 0

    @extend_schema(
        request=InputSerializer,
        responses={201: ReservationSerializer},
        parameters=[QUEUE_TOKEN_PARAMETER],
        operation_id="reservations_create",
    )
    def post(self, request: Request) -> Response:
        data = self.get_input(request)
        concert_date_id = data["concert_date_id"]
        map_version = self.map_version(concert_date_id)
        if "quantity" in data:
            reservation = services.hold_best_available(
                user=request.user,
                concert_date_id=concert_date_id,
                quantity=data["quantity"],
                section=data.get("section"),
                together=data["together"],
                map_version=map_version,
            )
        else:
            reservation = services.hold_seats(
                user=request.user, concert_date_id=concert_date_id, seat_ids=data["seat_ids"], map_version=map_version
            )
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)


class ReservationDetailApi(APIView):
    @extend_schema(responses={200: ReservationSerializer}, operation_id="reservations_retrieve")
    def get(self, request: Request, reservation_id: int) -> Response:
        reservation = selectors.get_reservation(user=request.user, reservation_id=reservation_id)
        return Response(ReservationSerializer(reservation).data)


class ReservationCancelApi(APIView):
    """Cancels a hold, or a paid booking with a refund to the wallet."""

    error_codes = (ErrorCode.INVALID_STATE,)

    @extend_schema(request=None, responses={200: ReservationSerializer}, operation_id="reservations_cancel")
    def post(self, request: Request, reservation_id: int) -> Response:
        services.cancel_reservation(user=request.user, reservation_id=reservation_id)
        reservation = selectors.get_reservation(user=request.user, reservation_id=reservation_id)
        return Response(ReservationSerializer(reservation).data)
