from django.conf import settings
from drf_spectacular.utils import extend_schema
from redis.client import Pipeline
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.schema import ID, QUEUE_TOKEN_PARAMETER, JsonInput, UniqueIdListField
from apps.common.throttling import PER_USER_AND_IP
from apps.common.views import ValidatedInputMixin
from apps.concerts import seat_map
from apps.queue.permissions import BookingWriteAuthMixin, QueueTokenRequired

from . import selectors, services
from .serializers import ReservationSerializer


class ReservationListCreateApi(BookingWriteAuthMixin, ValidatedInputMixin, generics.GenericAPIView):
    """GET lists the caller's reservations; POST holds seats (needs the date's queue token)."""

    serializer_class = ReservationSerializer
    throttle_scope = "hold"
    error_codes = {
        "post": (
            ErrorCode.SEAT_UNAVAILABLE,
            ErrorCode.NOT_ENOUGH_SEATS,
            ErrorCode.BOOKING_CLOSED,
            ErrorCode.HOLD_LIMIT_REACHED,
            ErrorCode.THROTTLED,  # counted with the queue token check (BookingWriteAuthMixin)
        )
    }
    read_replies: list | None = None  # set by QueueTokenRequired: the replies of `queue_reads`

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), QueueTokenRequired()]
        return [IsAuthenticated()]

    def get_throttles(self):
        if self.booking_write:  # counted in the queue token check's round trip (BookingWriteAuthMixin)
            return []
        return [throttle() for throttle in PER_USER_AND_IP] if self.request.method == "POST" else []

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

    def queue_reads(self, pipe: Pipeline, concert_date_id: int) -> None:
        """The seat map's version travels in the queue token's round trip (QueueTokenRequired)."""
        seat_map.queue_version_read(pipe, concert_date_id)

    @extend_schema(
        request=InputSerializer,
        responses={201: ReservationSerializer},
        parameters=[QUEUE_TOKEN_PARAMETER],
        operation_id="reservations_create",
    )
    def post(self, request: Request) -> Response:
        data = self.get_input(request)
        concert_date_id = data["concert_date_id"]
        map_version = (
            None if self.read_replies is None else seat_map.version_from_reply(concert_date_id, self.read_replies[0])
        )
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
