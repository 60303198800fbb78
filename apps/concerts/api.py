"""The catalogue API: concerts, dates and a date's seat layout, all public reads; and a date's seat
status and seat list, which need its queue access token (declared with the queue gate,
apps/common/queue_gate.py). All seat views answer with the stored seat-map bodies (`seat_map_http`)."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.schema import QUEUE_TOKEN_PARAMETER
from apps.common.views import PublicApi

from . import seat_map, selectors
from .models import SeatStatus
from .seat_map_http import (
    ACCEPT_ENCODING,
    IF_NONE_MATCH,
    LAYOUT_CACHE_CONTROL,
    NOT_MODIFIED,
    PRIVATE_CACHE_CONTROL,
    MapVersionInGateTrip,
    response_headers,
    stored_response,
)
from .serializers import ConcertDateSerializer, SeatSerializer, VenueBriefSerializer, VenueSerializer


class ConcertListApi(PublicApi, generics.ListAPIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        artist = serializers.CharField()
        venue = VenueBriefSerializer()
        first_date = serializers.DateTimeField(allow_null=True, help_text="The earliest performance, if any.")
        last_date = serializers.DateTimeField(allow_null=True, help_text="The latest performance, if any.")

    serializer_class = OutputSerializer

    def get_queryset(self):
        return selectors.list_concerts()

    @extend_schema(operation_id="concerts_list")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class ConcertDetailApi(PublicApi):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        artist = serializers.CharField()
        description = serializers.CharField()
        venue = VenueSerializer()
        dates = ConcertDateSerializer(many=True)

    @extend_schema(responses={200: OutputSerializer}, operation_id="concerts_retrieve")
    def get(self, request: Request, concert_id: int) -> Response:
        return Response(self.OutputSerializer(selectors.get_concert(concert_id=concert_id)).data)


class ConcertDateListApi(PublicApi):
    @extend_schema(responses={200: ConcertDateSerializer(many=True)}, operation_id="concert_dates_list")
    def get(self, request: Request, concert_id: int) -> Response:
        dates = selectors.dates_with_availability(concert_id=concert_id)
        return Response(ConcertDateSerializer(dates, many=True).data)


class SeatLayoutApi(PublicApi):
    """What never changes during a sale: sections with their price, rows, seats as `[seat_id, seat_num]`."""

    class OutputSerializer(serializers.Serializer):
        class SectionSerializer(serializers.Serializer):
            class RowSerializer(serializers.Serializer):
                row = serializers.CharField()
                seats = serializers.ListField(
                    child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
                    help_text="`[seat_id, seat_num]` pairs, in seat order.",
                )

            name = serializers.CharField()
            price = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="The section's price.")
            seat_prices = serializers.DictField(
                child=serializers.DecimalField(max_digits=12, decimal_places=2),
                help_text="Seats whose price differs from the section's, as {seat_id: price} (usually empty).",
            )
            rows = RowSerializer(many=True)

        concert_date_id = serializers.IntegerField()
        layout_version = serializers.IntegerField(help_text="Changes only when staff change the seats or prices.")
        sections = SectionSerializer(many=True)

    @extend_schema(
        parameters=[IF_NONE_MATCH, ACCEPT_ENCODING, *response_headers(LAYOUT_CACHE_CONTROL)],
        responses={200: OutputSerializer, 304: NOT_MODIFIED},
        operation_id="seat_layout_retrieve",
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        facts = selectors.date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
        layout = seat_map.seat_layout(concert_date_id=concert_date_id, layout_version=facts.layout_version)
        return stored_response(request, layout.rendered, cache_control=LAYOUT_CACHE_CONTROL)


class AdmittedSeatMapApi(MapVersionInGateTrip, APIView):
    """A read of one date's seat map for its admitted buyers, polled while they choose: login from the
    token's claims (no database), the date's queue access token and the map's version in one Redis
    round trip (the queue gate)."""

    def get_queue_concert_date_id(self, request: Request) -> int:
        """The date of the URL, once it is known to belong to the URL's concert (404 otherwise,
        before the token is looked at, so that a token never reveals another concert's dates)."""
        return selectors.date_of_concert(
            concert_id=self.kwargs["concert_id"], concert_date_id=self.kwargs["concert_date_id"]
        ).concert_date_id


class SeatStatusApi(AdmittedSeatMapApi):
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
        status = seat_map.seat_status(concert_date_id=concert_date_id, version=self.map_version(concert_date_id))
        return stored_response(request, status.rendered, cache_control=PRIVATE_CACHE_CONTROL)


class SeatListApi(AdmittedSeatMapApi):
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
        rendered = seat_map.seat_list(
            concert_date_id=concert_date_id,
            status=filters.validated_data.get("status") or None,
            version=self.map_version(concert_date_id),
        )
        return stored_response(request, rendered, cache_control=PRIVATE_CACHE_CONTROL)
