"""The service's URLs plus two authenticated DRF endpoints that do nothing, the framework floors of
the HTTP benchmarks (selected with ROOT_URLCONF=bench.floor_urls, never in production):

- `api/bench/floor/bare`: DRF + simplejwt's own `JWTStatelessUserAuthentication` and `AccessToken`, no
  Redis, no database: the bare floor every HTTP benchmark reports its ratios against;
- `api/bench/floor`: the project's stateless authentication, which adds the logout deny-list round trip;
- `api/bench/floor/hold-shaped` (POST `{"seat_id": N}`): the bare floor's authentication and a
  hold-shaped transaction on the database, with the ORM as a view would write it: lock the seat
  (`SELECT … FOR UPDATE`), update it, update its inventory shard under a version check, commit. It
  changes no seat's status or count (the versions move), so it can run any number of times on a date
  whose invariants are then still checked: the shape of a hold's transaction with none of what a hold
  must do besides (the queue gate, the buyer's caps, the reservation, its items, the outbox, the seat
  map, the answer's serializer). What a hold can reach on a machine is below this row;
- `api/bench/floor/hold-shaped/lean` (the same body): the same transaction as lean as the service's hold
  writes its own: the seat lock reading its shard's version in the same statement (its begin travels
  with it), both updates in one batch (`run_batch`), the commit: three round trips;
- `api/bench/floor/hold-procedure` (POST `{"concert_id", "concert_date_id", "seat_ids"}`, MariaDB only):
  the bare floor's authentication and a real hold's whole transaction as the service runs it, one call
  of the hold procedure (`apps.reservations.hold_call`) with the service's own arguments: the user
  lock, the taken preview, the seat lock, the buyer's caps, the seats, the shards, the outbox row, the
  reservation and its items. Nothing else a hold does (the queue gate's Redis round trip, the answer's
  serializer, the seat map's effects after commit): the ceiling of a hold whose database work is what
  the design asks of it, on this machine.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken, Token

from apps.accounts.authentication import StatelessJWTAuthentication
from apps.common.db import run_batch
from apps.concerts.models import Inventory, Seat, inventory_shard_of
from apps.concerts.services import SeatsHeldOnServer
from apps.reservations import hold_call
from ticketing.urls import urlpatterns as service_urlpatterns


class FloorApi(APIView):
    authentication_classes = [StatelessJWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})


class BareJWTAuthentication(JWTStatelessUserAuthentication):
    """simplejwt's own, with simplejwt's own `AccessToken`: every token checked in full, whatever the
    service's settings say (the service remembers the tokens it verified, apps/accounts/access_tokens.py)."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc


class BareFloorApi(APIView):
    authentication_classes = [BareJWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})


class HoldShapedFloorApi(APIView):
    authentication_classes = [BareJWTAuthentication]

    def post(self, request: Request) -> Response:
        seat_id = int(request.data["seat_id"])
        with transaction.atomic():
            seat = Seat.objects.select_for_update().only("id", "concert_date_id", "version").get(pk=seat_id)
            Seat.objects.filter(pk=seat.pk).update(version=F("version") + 1)
            shard = Inventory.objects.only("id", "version").get(
                concert_date_id=seat.concert_date_id, shard=inventory_shard_of(seat.pk)
            )
            moved = Inventory.objects.filter(pk=shard.pk, version=shard.version).update(version=F("version") + 1)
        return Response({"seat_id": seat.pk, "shard_updated": bool(moved)}, status=201)


LEAN_LOCK = (
    "SELECT `seat`.`id`, (SELECT `inventory`.`version` FROM `inventory` WHERE `inventory`.`concert_date_id` ="
    " `seat`.`concert_date_id` AND `inventory`.`shard` = %s) FROM `seat` WHERE `seat`.`id` = %s FOR UPDATE"
)
LEAN_SEAT_UPDATE = "UPDATE `seat` SET `version` = `version` + 1 WHERE `id` = %s"
LEAN_SHARD_UPDATE = (
    "UPDATE `inventory` SET `version` = `version` + 1 WHERE `concert_date_id` = (SELECT `concert_date_id` FROM"
    " `seat` WHERE `id` = %s) AND `shard` = %s AND `version` = %s"
)


class LeanHoldShapedFloorApi(APIView):
    authentication_classes = [BareJWTAuthentication]

    def post(self, request: Request) -> Response:
        seat_id = int(request.data["seat_id"])
        shard = inventory_shard_of(seat_id)
        with transaction.atomic():
            ((_, version),) = run_batch([(LEAN_LOCK, [shard, seat_id])])[0].rows
            moved = run_batch([(LEAN_SEAT_UPDATE, [seat_id]), (LEAN_SHARD_UPDATE, [seat_id, shard, version])])[1]
        return Response({"seat_id": seat_id, "shard_updated": bool(moved.rowcount)}, status=201)


class HoldProcedureFloorApi(APIView):
    authentication_classes = [BareJWTAuthentication]

    def post(self, request: Request) -> Response:
        seats = SeatsHeldOnServer.of(
            concert_date_id=int(request.data["concert_date_id"]), seat_ids=[int(i) for i in request.data["seat_ids"]]
        )
        now = timezone.now()
        answer = hold_call.call(
            user_id=int(request.user.id),
            concert_id=int(request.data["concert_id"]),
            seats=seats,
            now=now,
            expires_at=now + dt.timedelta(seconds=settings.HOLD_TTL_SECONDS),
        )
        held = answer.outcome == hold_call.HELD
        return Response({"outcome": answer.outcome, "id": answer.reservation_id}, status=201 if held else 409)


urlpatterns = [
    path("api/bench/floor", FloorApi.as_view()),
    path("api/bench/floor/bare", BareFloorApi.as_view()),
    path("api/bench/floor/hold-shaped", HoldShapedFloorApi.as_view()),
    path("api/bench/floor/hold-shaped/lean", LeanHoldShapedFloorApi.as_view()),
    path("api/bench/floor/hold-procedure", HoldProcedureFloorApi.as_view()),
    *service_urlpatterns,
]
