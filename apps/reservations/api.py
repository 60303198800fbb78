from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.schema import ID, QUEUE_TOKEN_PARAMETER, JsonInput, UniqueIdListField
from apps.common.throttling import PER_USER_AND_IP
from apps.common.views import ValidatedInputMixin
from apps.queue.permissions import QueueTokenRequired

from . import selectors, services
from .serializers import ReservationSerializer


class ReservationListCreateApi(ValidatedInputMixin, generics.GenericAPIView):
    """GET lists the caller's reservations; POST holds seats (needs the date's queue token)."""

    serializer_class = ReservationSerializer
    throttle_scope = "hold"
    error_codes = {"post": (ErrorCode.SEAT_UNAVAILABLE, ErrorCode.BOOKING_CLOSED, ErrorCode.HOLD_LIMIT_REACHED)}

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), QueueTokenRequired()]
        return [IsAuthenticated()]

    def get_throttles(self):
        return [throttle() for throttle in PER_USER_AND_IP] if self.request.method == "POST" else []

    def get_queryset(self):
        return selectors.reservations_of(user=self.request.user)

    @extend_schema(operation_id="reservations_list", responses={200: ReservationSerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    class InputSerializer(JsonInput):
        concert_date_id = serializers.IntegerField(**ID)
        seat_ids = UniqueIdListField(
            min_length=1,
            max_length=settings.MAX_SEATS_PER_RESERVATION,
            error_messages={"duplicate": "A seat is listed twice."},
        )

    def get_queue_concert_date_id(self, request: Request) -> int:
        return self.get_input(request)["concert_date_id"]

    @extend_schema(
        request=InputSerializer,
        responses={201: ReservationSerializer},
        parameters=[QUEUE_TOKEN_PARAMETER],
        operation_id="reservations_create",
    )
    def post(self, request: Request) -> Response:
        data = self.get_input(request)
        reservation = services.hold_seats(
            user=request.user, concert_date_id=data["concert_date_id"], seat_ids=data["seat_ids"]
        )
        return Response(ReservationSerializer(reservation).data, status=status.HTTP_201_CREATED)


class ReservationDetailApi(APIView):
    @extend_schema(responses={200: ReservationSerializer}, operation_id="reservations_retrieve")
    def get(self, request: Request, reservation_id: int) -> Response:
        reservation = selectors.get_reservation(user=request.user, reservation_id=reservation_id)
        return Response(ReservationSerializer(reservation).data)
