"""The catalogue API: concerts, dates and a date's seat layout, all public reads. The seat status and
the seat list need the date's queue access token, so the queue app serves them (apps/queue/api.py);
both sides answer with the stored seat-map bodies through `seat_map_http`."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.views import PublicApi

from . import seat_map, selectors
from .seat_map_http import (
    ACCEPT_ENCODING,
    IF_NONE_MATCH,
    LAYOUT_CACHE_CONTROL,
    NOT_MODIFIED,
    response_headers,
    stored_response,
)
from .serializers import ConcertDateSerializer, VenueBriefSerializer, VenueSerializer


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
