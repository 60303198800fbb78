from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.queue.permissions import QueueTokenRequired

from . import selectors
from .models import SeatStatus
from .serializers import ConcertDateSerializer, ConcertDetailSerializer, ConcertListSerializer, SeatSerializer


class ConcertListApi(generics.ListAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    serializer_class = ConcertListSerializer

    def get_queryset(self):
        return selectors.list_concerts()

    @extend_schema(operation_id="concerts_list")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class ConcertDetailApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ConcertDetailSerializer}, operation_id="concerts_retrieve")
    def get(self, request: Request, concert_id: int) -> Response:
        return Response(ConcertDetailSerializer(selectors.get_concert(concert_id=concert_id)).data)


class ConcertDateListApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: ConcertDateSerializer(many=True)}, operation_id="concert_dates_list")
    def get(self, request: Request, concert_id: int) -> Response:
        dates = selectors.dates_with_availability(concert_id=concert_id)
        return Response(ConcertDateSerializer(dates, many=True).data)


class SeatListApi(APIView):
    """The seat map of a date; needs the date's queue access token."""

    permission_classes = [IsAuthenticated, QueueTokenRequired]

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=SeatStatus.choices, required=False)

    def get_queue_concert_date_id(self, request: Request) -> int:
        concert_date = selectors.get_concert_date(
            concert_id=self.kwargs["concert_id"], concert_date_id=self.kwargs["concert_date_id"]
        )
        return concert_date.pk

    @extend_schema(parameters=[FilterSerializer], responses={200: SeatSerializer(many=True)}, operation_id="seats_list")
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        seats = selectors.seat_map(concert_date_id=concert_date_id, status=filters.validated_data.get("status"))
        return Response(SeatSerializer(seats, many=True).data)
