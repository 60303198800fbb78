from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.error_codes import ErrorCode
from apps.common.idempotency import has_stored_response, run_idempotent
from apps.common.queue_gate import QueueGated
from apps.common.schema import ID, IDEMPOTENCY_PARAMETER, PAYMENT_QUEUE_TOKEN_PARAMETER, JsonInput
from apps.common.views import ValidatedInputMixin
from apps.reservations import selectors as reservation_selectors

from . import selectors, services
from .serializers import PaymentCreatedSerializer, PaymentSerializer


class PaymentListCreateApi(QueueGated, ValidatedInputMixin, generics.GenericAPIView):
    """GET lists the caller's payments; POST pays a held reservation from the wallet (needs the
    queue token of the reservation's concert date: the queue gate; honours Idempotency-Key)."""

    serializer_class = PaymentSerializer
    queue_gated_methods = frozenset({"POST"})
    queue_date_from_token = True  # the service refuses a reservation of another date (no lookup first)
    permission_classes = [IsAuthenticated]
    throttle_scope = "pay"
    # THROTTLED too: counted in the queue gate's round trip, not by a DRF throttle.
    error_codes = {
        "post": (ErrorCode.HOLD_EXPIRED, ErrorCode.INVALID_STATE, ErrorCode.INSUFFICIENT_BALANCE, ErrorCode.THROTTLED)
    }

    class InputSerializer(JsonInput):
        reservation_id = serializers.IntegerField(**ID)

    def answers_without_queue_token(self, request: Request) -> bool:
        # A retried payment whose first attempt succeeded must replay its response, although the
        # payment has ended this user's queue access: the stored response is what it is checked against.
        return has_stored_response(request=request)

    def get_queryset(self):
        return selectors.payments_of(user=self.request.user)

    def get_queue_concert_date_id(self, request: Request) -> int:
        # Asked only of a queue token the gate refuses (`queue_date_from_token`): a live one names its date.
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
            payment, balance = services.pay_for_reservation(
                user=request.user, reservation_id=reservation_id, queue_date_id=self.queue_access.concert_date_id
            )
            payment.balance = balance
            return 201, dict(PaymentCreatedSerializer(payment).data)

        return run_idempotent(request=request, scope="payments.create", work=work)
