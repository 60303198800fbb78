"""The published draw of a concert date's pre-queue: public, so that anyone can check it (draw.py)."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.common.exceptions import NotFound
from apps.common.views import PublicApi
from apps.concerts.selectors import date_of_concert

from . import lottery


class DrawApi(PublicApi):
    class OutputSerializer(serializers.Serializer):
        concert_date_id = serializers.IntegerField()
        opens_at = serializers.DateTimeField(help_text="When the sale opens and the pre-queue is drawn.")
        commitment = serializers.CharField(
            allow_null=True, help_text="Hex SHA-256 of the secret's 64 hex characters; null until the pre-queue opens."
        )
        algorithm = serializers.CharField(help_text="How the keys and the order are made.")
        drawn_at = serializers.DateTimeField(allow_null=True, help_text="Null until the draw.")
        secret = serializers.CharField(allow_null=True, help_text="64 lowercase hex characters; null until the draw.")
        entrants = serializers.IntegerField(help_text="How many pre-queued buyers were drawn (0 until the draw).")

    @extend_schema(
        responses={200: OutputSerializer},
        operation_id="concert_date_draw",
        description=(
            "The pre-queue's commit-and-reveal draw: the commitment from the pre-queue's opening, the "
            "secret and the number of entrants after the draw. A buyer's key is the hex SHA-256 of "
            "`<secret>:<user_id>:<draw_nonce>`; places follow ascending keys (GET …/draw/order)."
        ),
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> Response:
        facts = date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
        return Response(self.OutputSerializer(lottery.published_draw(facts)).data)


class DrawOrderApi(PublicApi):
    @extend_schema(
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="One key a line, place 1 first."),
        },
        operation_id="concert_date_draw_order",
        description="The drawn keys in drawn order; 404 NOT_FOUND before the draw.",
    )
    def get(self, request: Request, concert_id: int, concert_date_id: int) -> HttpResponse:
        facts = date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
        order = lottery.published_order(facts)
        if order is None:
            raise NotFound("The pre-queue has not been drawn yet.")
        response = HttpResponse(order, content_type="text/plain; charset=utf-8")
        # Fixed once drawn (only an operator's reset of the date changes it): caches may keep it a while.
        response["Cache-Control"] = "public, max-age=60"
        return response
