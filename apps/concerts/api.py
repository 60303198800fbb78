"""The catalogue API. Concerts, dates and a date's seat layout are public reads; the seat status and
the seat list need a login and the date's queue access token, because they are what admitted buyers
hold seats from. The seat map's bodies are stored bytes (`seat_map`): these views only pick the
representation (gzip or not), answer 304 to a matching `If-None-Match`, and set the headers."""

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import StatelessJWTAuthentication
from apps.common.schema import QUEUE_TOKEN_PARAMETER
from apps.common.views import PublicApi
from apps.queue.permissions import QueueTokenRequired

from . import seat_map, selectors
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


class QueueProtectedDateApi(APIView):
    """A read of one concert date for its admitted buyers: login (from the token's claims, no
    database) and the date's queue access token."""

    authentication_classes = [StatelessJWTAuthentication]
    permission_classes = [IsAuthenticated, QueueTokenRequired]

    def get_queue_concert_date_id(self, request: Request) -> int:
        """The date of the URL, once it is known to belong to the URL's concert (404 otherwise,
        before the token is looked at, so that a token never reveals another concert's dates)."""
        return selectors.date_of_concert(
            concert_id=self.kwargs["concert_id"], concert_date_id=self.kwargs["concert_date_id"]
        ).concert_date_id


# --- The stored seat-map bodies over HTTP ----------------------------------------------------------


def accepts_gzip(request: Request) -> bool:
    """`Accept-Encoding` names gzip (or `*`) without `q=0`."""
    for coding in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = coding.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


def stored_response(request: Request, rendered: seat_map.Rendered, *, cache_control: str) -> HttpResponse:
    """The stored bytes as they are: gzip when accepted, 304 when `If-None-Match` names either
    representation of this body (weak comparison, as RFC 9110 asks for If-None-Match)."""
    gzipped = accepts_gzip(request)
    tags = {tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))}
    if "*" in tags or rendered.etag in tags or rendered.gzip_etag in tags:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(rendered.gzipped if gzipped else rendered.body, content_type="application/json")
        if gzipped:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = rendered.gzip_etag if gzipped else rendered.etag
    response["Cache-Control"] = cache_control
    response["Vary"] = "Accept-Encoding"
    return response


# --- OpenAPI pieces of the stored seat-map bodies ----------------------------------------------------

IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", str, OpenApiParameter.HEADER, required=False,
    description="The `ETag` of the copy the client holds: 304 with no body while it is still current.",
)  # fmt: skip
ACCEPT_ENCODING = OpenApiParameter(
    "Accept-Encoding", str, OpenApiParameter.HEADER, required=False,
    description="`gzip` to receive the stored gzip bytes (`Content-Encoding: gzip`).",
)  # fmt: skip


def _response_headers(cache_control: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter("ETag", str, OpenApiParameter.HEADER, response=[200, 304],
                         description="Strong validator of this representation (the gzip one ends in `-gzip`)."),
        OpenApiParameter("Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304],
                         description=f"`{cache_control}`"),
        OpenApiParameter("Vary", str, OpenApiParameter.HEADER, response=[200, 304], description="`Accept-Encoding`"),
        OpenApiParameter("Content-Encoding", str, OpenApiParameter.HEADER, response=[200],
                         description="`gzip` when the client accepted it."),
    ]  # fmt: skip


NOT_MODIFIED = OpenApiResponse(description="Not modified: the `If-None-Match` copy is current. No body.")
LAYOUT_CACHE_CONTROL = "public, max-age=300"
PRIVATE_CACHE_CONTROL = "private, no-cache"  # the browser keeps it and revalidates every time


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
        parameters=[IF_NONE_MATCH, ACCEPT_ENCODING, *_response_headers(LAYOUT_CACHE_CONTROL)],
        responses={200: OutputSerializer, 304: NOT_MODIFIED},
        operation_id="seat_layout_retrieve",
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        facts = selectors.date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
        layout = seat_map.seat_layout(concert_date_id=concert_date_id, layout_version=facts.layout_version)
        return stored_response(request, layout.rendered, cache_control=LAYOUT_CACHE_CONTROL)


class SeatStatusApi(QueueProtectedDateApi):
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
        parameters=[QUEUE_TOKEN_PARAMETER, IF_NONE_MATCH, ACCEPT_ENCODING, *_response_headers(PRIVATE_CACHE_CONTROL)],
        responses={200: OutputSerializer, 304: NOT_MODIFIED},
        operation_id="seat_status_retrieve",
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        status = seat_map.seat_status(concert_date_id=concert_date_id)
        return stored_response(request, status.rendered, cache_control=PRIVATE_CACHE_CONTROL)


class SeatListApi(QueueProtectedDateApi):
    """Every seat of the date with its status (or one status only), from the same stored layout and
    status as the two endpoints above."""

    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=SeatStatus.choices, required=False, help_text="Only seats with this status."
        )

    @extend_schema(
        parameters=[InputSerializer, QUEUE_TOKEN_PARAMETER, IF_NONE_MATCH, ACCEPT_ENCODING,
                    *_response_headers(PRIVATE_CACHE_CONTROL)],
        responses={200: SeatSerializer(many=True), 304: NOT_MODIFIED},
        operation_id="seats_list",
    )  # fmt: skip
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        filters = self.InputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rendered = seat_map.seat_list(concert_date_id=concert_date_id, status=filters.validated_data.get("status"))
        return stored_response(request, rendered, cache_control=PRIVATE_CACHE_CONTROL)
