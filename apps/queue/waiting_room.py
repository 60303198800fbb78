"""What every endpoint of the waiting room shares, the line's own (apps/queue/api.py) and the
reservation token's (apps/reservations/api.py): the base view that checks the access token in process
and sends its revocation and rate limits in the queue operation's round trip, the target of a request
(concert and date), and the answer with its `Retry-After`."""

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.schema import ID, JsonInput

from .access import AccessCheck, QueueJWTAuthentication
from .services import QueueState


class QueueTargetSerializer(JsonInput):
    concert_id = serializers.IntegerField(**ID)
    concert_date_id = serializers.IntegerField(**ID)


STATUS_HELP = (
    "WAITING: in line (`position` 1 = next) or, before the sale opens, in the pre-queue (`position` null, "
    "`opens_at` set: places are drawn at random at the opening); READY: admitted, `token` is the access "
    "token; NOT_IN_QUEUE: never entered, left, or the access ended (expired, idle, paid); SOLD_OUT: the date "
    "has no free seat and no live hold (`position`, `token` and `poll_after_seconds` null: stop asking; the "
    "line keeps its order and reopens if seats come back). An admitted buyer stays READY when it sells out."
)
SEATS_AVAILABLE_HELP = "The date's free seats now (read in the same Redis round trip as the rest of the answer)."
SEATS_HELD_HELP = (
    "The date's seats in live holds. While `seats_available` is 0 and this is not, the status stays WAITING "
    "and polls slowly: held seats may come back."
)


def shared(serializer: serializers.Serializer) -> serializers.Serializer:
    """A serializer built once and shared by every request: DRF deep-copies every declared field for
    each new serializer instance (~110 µs of a poll's Python time for the waiting room's three, whose
    whole queue work is one Redis round trip). Validating and rendering keep nothing on the instance,
    so sharing is safe; the fields are bound now, not racing on the first requests."""
    serializer.fields  # noqa: B018
    return serializer


TARGET = shared(QueueTargetSerializer())


def target(data: object) -> dict[str, int]:
    """concert_id and concert_date_id, or 400 VALIDATION_ERROR naming the bad ones."""
    return TARGET.run_validation(data)


def state_headers(state: QueueState) -> dict[str, str]:
    """`Retry-After` when the buyer should ask again (the views' answers and the fast path's alike)."""
    return {"Retry-After": str(state.poll_after_seconds)} if state.poll_after_seconds else {}


def respond(state: QueueState, shape: serializers.Serializer, http_status: int = status.HTTP_200_OK) -> Response:
    """The state in the endpoint's shape, with `Retry-After` when the buyer should ask again."""
    return Response(shape.to_representation(state), status=http_status, headers=state_headers(state))


class WaitingRoomApi(APIView):
    """The crowd's endpoints: the access token is checked in process, and its revocation and the
    rate limits travel in the queue operation's own Redis round trip (`AccessCheck`), so a request
    costs one round trip (docs/PERFORMANCE.md)."""

    authentication_classes = [QueueJWTAuthentication]
    throttle_classes: list = []  # counted by AccessCheck, in the queue operation's round trip
    throttle_scope: str | None = None

    def access(self, request: Request, *, limited: bool = False) -> AccessCheck:
        return AccessCheck.of(request, throttle_scope=self.throttle_scope if limited else None)
