"""The catalogue API. Concerts and dates are public reads; the seat map needs a login and the date's
queue access token, because it is what admitted buyers hold seats from."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.views import PublicApi
from apps.queue.permissions import QueueTokenRequired

from . import selectors
from .models import SeatStatus
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


class SeatListApi(APIView):
    """The seat map of a date; needs the date's queue access token."""

    permission_classes = [IsAuthenticated, QueueTokenRequired]

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=SeatStatus.choices, required=False, help_text="Only seats with this status."
        )

    def get_queue_concert_date_id(self, request: Request) -> int:
        """The date of the URL, once it is known to belong to the URL's concert (404 otherwise,
        before the token is looked at, so that a token never reveals another concert's dates).
        From the few-second date facts: a date never moves to another concert."""
        return selectors.date_of_concert(
            concert_id=self.kwargs["concert_id"], concert_date_id=self.kwargs["concert_date_id"]
        ).concert_date_id

    @extend_schema(parameters=[InputSerializer], responses={200: SeatSerializer(many=True)}, operation_id="seats_list")
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> Response:
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        seats = selectors.seat_map(concert_date_id=concert_date_id, status=filters.validated_data.get("status"))
        # The selector already yields the API shape (price as its decimal string); running 50,000
        # rows through a DRF serializer would cost more than the rest of the request together.
        # SeatSerializer documents that shape in the schema and is checked against it in the tests.
        return Response(seats)
