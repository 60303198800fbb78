from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.idempotency import has_stored_response, run_idempotent
from apps.common.schema import ID, IDEMPOTENCY_PARAMETER, PAYMENT_QUEUE_TOKEN_PARAMETER, JsonInput
from apps.common.throttling import PER_USER_AND_IP
from apps.common.views import ValidatedInputMixin
from apps.queue.permissions import AccessChecked, BookingWriteAuthMixin, QueueTokenRequired
from apps.reservations import selectors as reservation_selectors
from apps.reservations.serializers import ReservationSerializer

from . import selectors, services
from .serializers import PaymentCreatedSerializer, PaymentSerializer


class PaymentListCreateApi(BookingWriteAuthMixin, ValidatedInputMixin, generics.GenericAPIView):
    """GET lists the caller's payments; POST pays a held reservation from the wallet (needs the
    queue token of the reservation's concert date; honours Idempotency-Key)."""

    serializer_class = PaymentSerializer
    throttle_scope = "pay"
    # THROTTLED too: counted with the queue token check (BookingWriteAuthMixin), not by a DRF throttle.
    error_codes = {
        "post": (ErrorCode.HOLD_EXPIRED, ErrorCode.INVALID_STATE, ErrorCode.INSUFFICIENT_BALANCE, ErrorCode.THROTTLED)
    }

    class InputSerializer(JsonInput):
        reservation_id = serializers.IntegerField(**ID)

    def get_permissions(self):
        if self.request.method != "POST":
            return [IsAuthenticated()]
        # A retried payment whose first attempt succeeded must replay its response, although the
        # payment has ended this user's queue access: the stored response is what it is checked against.
        if self.request.user and self.request.user.is_authenticated and has_stored_response(request=self.request):
            return [IsAuthenticated(), AccessChecked()]
        return [IsAuthenticated(), QueueTokenRequired()]

    def get_throttles(self):
        if self.booking_write:  # counted in the queue token check's round trip (BookingWriteAuthMixin)
            return []
        return [throttle() for throttle in PER_USER_AND_IP] if self.request.method == "POST" else []

    def get_queryset(self):
        return selectors.payments_of(user=self.request.user)

    def get_queue_concert_date_id(self, request: Request) -> int:
        reservation_id = self.get_input(request)["reservation_id"]
        return reservation_selectors.concert_date_of(user=request.user, reservation_id=reservation_id)

    @extend_schema(operation_id="payments_list", responses={200: PaymentSerializer(many=True)})
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: PaymentCreatedSerializer},
        parameters=[PAYMENT_QUEUE_TOKEN_PARAMETER, IDEMPOTENCY_PARAMETER],
        operation_id="payments_create",
    )
    def post(self, request: Request) -> Response:
        reservation_id = self.get_input(request)["reservation_id"]

        def work() -> tuple[int, dict]:
            payment, balance = services.pay_for_reservation(user=request.user, reservation_id=reservation_id)
            payment.balance = balance
            return 201, dict(PaymentCreatedSerializer(payment).data)

        return run_idempotent(request=request, scope="payments.create", work=work)


class ReservationCancelApi(APIView):
    """Cancels a hold, or a paid booking with a refund to the wallet."""

    error_codes = (ErrorCode.INVALID_STATE,)

    @extend_schema(request=None, responses={200: ReservationSerializer}, operation_id="reservations_cancel")
    def post(self, request: Request, reservation_id: int) -> Response:
        services.cancel_reservation(user=request.user, reservation_id=reservation_id)
        reservation = reservation_selectors.get_reservation(user=request.user, reservation_id=reservation_id)
        return Response(ReservationSerializer(reservation).data)
