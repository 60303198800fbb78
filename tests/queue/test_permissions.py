"""The queue gate (apps/queue/gate.py) through DRF's real request cycle and the project's exception
handler, on a view that declares it (`QueueGated`): every rejection is 403 QUEUE_TOKEN_REQUIRED, a
Redis outage is 503, never a silent allow or deny, and the gate's permission only reads its verdict."""

import json

import pytest
from django.core import signing
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from apps.accounts.authentication import ClaimsUser
from apps.common.queue_gate import QueueGated
from apps.queue import services, tokens
from apps.queue.gate import QueueTokenRequired
from apps.queue.keys import now_ms
from tests.helpers import assert_error, redis_unreachable

DATE, OTHER_DATE, USER, OTHER_USER = 41, 42, 7, 8


class ProtectedApi(QueueGated, APIView):
    """A stand-in for the seat map, hold and payment views: the date comes from the query string."""

    def get_queue_concert_date_id(self, request):
        raw = request.query_params.get("date")
        return int(raw) if raw and raw.isdigit() else None

    def get(self, request):
        return Response({"ok": True})


def call(*, token: str | None, user_id: int = USER, date: str | int = DATE):
    request = APIRequestFactory().get(
        "/protected", {"date": date}, **({"HTTP_X_QUEUE_TOKEN": token} if token is not None else {})
    )
    force_authenticate(request, user=ClaimsUser({"user_id": user_id}))
    response = ProtectedApi.as_view()(request)
    response.render()
    response.json = lambda: json.loads(response.content)  # the shape assert_error reads
    return response


def test_the_issued_token_opens_the_door():
    grant = services.issue_access_token(user_id=USER, concert_date_id=DATE)
    response = call(token=grant.token)
    assert (response.status_code, response.data) == (200, {"ok": True})


def _forged() -> str:
    return signing.dumps(
        {"u": USER, "d": DATE, "e": now_ms() + 60_000}, salt=tokens.TOKEN_SALT, key="someone-elses-key"
    )


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "malformed", "forged", "tampered", "unrecorded", "revoked", "other_user", "other_date",
     "no_date", "oversized"],
)  # fmt: skip
def test_every_bad_token_is_403_queue_token_required(case):
    grant = services.issue_access_token(user_id=USER, concert_date_id=DATE)
    services.issue_access_token(user_id=OTHER_USER, concert_date_id=OTHER_DATE)
    kwargs = {
        "missing": {"token": None},
        "empty": {"token": ""},
        "malformed": {"token": "not-a-token"},
        "forged": {"token": _forged()},
        "tampered": {"token": grant.token[:-1] + ("A" if grant.token[-1] != "A" else "B")},
        # Correctly signed, but never recorded in Redis: a leaked SECRET_KEY alone does not mint access.
        "unrecorded": {"token": tokens.make_token(user_id=USER, concert_date_id=DATE, expires_ms=now_ms() + 60_000)},
        "revoked": {"token": grant.token},
        "other_user": {"token": grant.token, "user_id": OTHER_USER},
        "other_date": {"token": grant.token, "date": OTHER_DATE},
        "no_date": {"token": grant.token, "date": "x"},
        "oversized": {"token": grant.token + "." + "A" * 4000},
    }[case]
    if case == "revoked":
        services.end_access(user_id=USER, concert_date_id=DATE)
    assert_error(call(**kwargs), 403, "QUEUE_TOKEN_REQUIRED")


def test_an_expired_token_is_refused(settings, clock):
    settings.QUEUE_TOKEN_TTL_SECONDS = 1
    grant = services.issue_access_token(user_id=USER, concert_date_id=DATE)
    assert call(token=grant.token).status_code == 200
    clock.advance(1.1)
    assert_error(call(token=grant.token), 403, "QUEUE_TOKEN_REQUIRED")


def test_redis_down_is_503_not_a_denial():
    grant = services.issue_access_token(user_id=USER, concert_date_id=DATE)
    with redis_unreachable():
        response = call(token=grant.token)
    assert_error(response, 503, "SERVICE_UNAVAILABLE")


def test_the_permission_reads_the_gates_verdict_and_nothing_else(monkeypatch):
    """Without the gate's admission the permission refuses, even with a valid token: it looks at no
    token and sends nothing to Redis itself."""
    grant = services.issue_access_token(user_id=USER, concert_date_id=DATE)
    monkeypatch.setattr(ProtectedApi, "check_permissions", APIView.check_permissions)  # the gate step skipped
    monkeypatch.setattr(ProtectedApi, "get_permissions", lambda self: [QueueTokenRequired()])
    assert_error(call(token=grant.token), 403, "QUEUE_TOKEN_REQUIRED")


def test_an_ungated_method_keeps_the_views_own_classes():
    class PartlyGated(ProtectedApi):
        queue_gated_methods = frozenset({"POST"})

    request = APIRequestFactory().get("/protected", {"date": DATE})
    force_authenticate(request, user=ClaimsUser({"user_id": USER}))
    response = PartlyGated.as_view()(request)
    assert (response.status_code, response.data) == (200, {"ok": True})
