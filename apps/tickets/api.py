import io
from typing import Any

import segno
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.schema import JsonInput
from apps.common.views import PublicApi, ValidatedInputMixin

from . import selectors, services
from .serializers import TicketSeatSerializer, TicketSerializer
from .signing import ALGORITHM, MAX_CODE_LENGTH, public_key_base64


class ReservationTicketListApi(APIView):
    """The tickets of one of the caller's confirmed reservations, one per seat, with their codes."""

    error_codes = (ErrorCode.INVALID_STATE,)

    @extend_schema(responses={200: TicketSerializer(many=True)}, operation_id="reservations_tickets_list")
    def get(self, request: Request, reservation_id: int) -> Response:
        tickets = services.tickets_of_reservation(user=request.user, reservation_id=reservation_id)
        return Response(TicketSerializer(tickets, many=True).data)


class SvgRenderer(BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data


def qr_svg(*, code: str, title: str) -> bytes:
    """A standalone SVG document (with its namespace) of the QR code of `code`: error correction M,
    4 px modules, the 4-module quiet zone that scanners need."""
    buffer = io.BytesIO()
    segno.make(code, error="m").save(buffer, kind="svg", scale=4, border=4, title=title, xmldecl=False)
    return buffer.getvalue()


class TicketQrApi(APIView):
    """The ticket's QR code as SVG: it encodes exactly the ticket's code. Errors are JSON."""

    renderer_classes = [SvgRenderer, JSONRenderer]

    @extend_schema(
        responses={(200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The QR code.")},
        operation_id="tickets_qr",
    )
    def get(self, request: Request, ticket_id: int) -> Response:
        ticket = selectors.get_own_ticket(user=request.user, ticket_id=ticket_id)
        return Response(
            qr_svg(code=selectors.code_of(ticket), title=f"Ticket {ticket.pk}"), content_type="image/svg+xml"
        )

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # Only the image is SVG: an error (rendered after negotiation picked SVG) answers in JSON.
        if response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class CheckinApi(ValidatedInputMixin, APIView):
    """A door scans a ticket: it is let in once (staff only)."""

    permission_classes = [IsAuthenticated, IsAdminUser]
    error_codes = (ErrorCode.INVALID_TICKET, ErrorCode.ALREADY_CHECKED_IN, ErrorCode.TICKET_VOID)

    class InputSerializer(JsonInput):
        code = serializers.CharField(max_length=MAX_CODE_LENGTH, trim_whitespace=True)

    class OutputSerializer(serializers.Serializer):
        ticket_id = serializers.IntegerField(source="id")
        concert_date_id = serializers.IntegerField()
        seat = TicketSeatSerializer()
        checked_in_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer}, operation_id="checkin_create")
    def post(self, request: Request) -> Response:
        ticket = services.check_in(code=self.get_input(request)["code"], staff=request.user)
        return Response(self.OutputSerializer(ticket).data)


class CheckinPublicKeyApi(PublicApi):
    """The Ed25519 public key that verifies every ticket code (for scanners that work offline)."""

    class OutputSerializer(serializers.Serializer):
        algorithm = serializers.ChoiceField(choices=[ALGORITHM])
        public_key = serializers.CharField(help_text="Base64 of the raw 32-byte Ed25519 public key.")

    @extend_schema(responses={200: OutputSerializer}, operation_id="checkin_public_key")
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer({"algorithm": ALGORITHM, "public_key": public_key_base64()}).data)
