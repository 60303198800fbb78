"""The entry's fast path (apps/queue/fast_path.py) answers the common `POST /api/queue` with the view's
own status, bytes and headers, without the view; anything else reaches the view, which answers as
before, and a refusal the fast path tried first leaves the line and the rate limits as the view alone
would."""

import datetime as dt
import json

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.common.redis import get_redis
from apps.concerts.seat_counts import counts_key
from apps.queue import api
from apps.queue.keys import QueueKeys
from tests.factories import UserFactory, make_date
from tests.helpers import assert_error, login_client, redis_unreachable
from tests.queue.helpers import count_dispatches, fill_capacity

pytestmark = pytest.mark.django_db

NOT_COMPARED = {"X-Request-ID", "Retry-After", "Content-Length"}


def body(date, **extra) -> dict:
    return {"concert_id": date.concert_id, "concert_date_id": date.pk, **extra}


def in_line(user, date) -> bool:
    keys = QueueKeys(date.pk)
    return any(get_redis().zscore(key, str(user.pk)) is not None for key in (keys.waiting, keys.active))


def enter(client, date, **extra):
    return client.post("/api/queue", body(date, **extra), format="json")


@pytest.fixture
def view_calls(monkeypatch):
    """How many entries reached the view."""
    return count_dispatches(monkeypatch, api.QueueApi)


def both_answers(client, date, settings, **extra):
    """The same entry answered by the fast path, then (after leaving the line) by the view."""
    settings.QUEUE_ENTRY_FAST_PATH = True
    fast = enter(client, date, **extra)
    left = client.delete(f"/api/queue?concert_id={date.concert_id}&concert_date_id={date.pk}")
    assert left.status_code == 204
    settings.QUEUE_ENTRY_FAST_PATH = False
    full = enter(client, date, **extra)
    settings.QUEUE_ENTRY_FAST_PATH = True
    return fast, full


def assert_same_answer(fast, full, status: int) -> None:
    assert fast.status_code == full.status_code == status
    fast_body, full_body = fast.json(), full.json()
    # What differs between two entries of one buyer: the next poll's jitter, a READY answer's token
    # and its expiry (a new admission), a waiter's number (a new place at the back) and a pre-queue entry's server nonce.
    for name in ("poll_after_seconds", "token", "expires_at", "number"):
        assert (fast_body.pop(name) is None) == (full_body.pop(name) is None), name
    if "draw_nonce" in fast_body and full_body.get("draw_nonce"):
        assert fast_body.pop("draw_nonce") and full_body.pop("draw_nonce")
    assert fast_body == full_body
    fast_headers = {k: v for k, v in fast.headers.items() if k not in NOT_COMPARED}
    full_headers = {k: v for k, v in full.headers.items() if k not in NOT_COMPARED}
    assert fast_headers == full_headers
    assert ("Retry-After" in fast.headers) == ("Retry-After" in full.headers)
    assert fast["X-Request-ID"] and fast["X-Request-ID"] != full["X-Request-ID"]


class TestTheSameAnswer:
    def test_admitted_at_once(self, date, user, settings, view_calls):
        fast, full = both_answers(login_client(user), date, settings)
        assert fast.json()["status"] == "READY"
        assert_same_answer(fast, full, 201)
        assert len(view_calls) == 2  # the leave, and the entry with the fast path off

    def test_waiting_with_a_place(self, date, user, settings, view_calls):
        fill_capacity(date, settings)
        fast, full = both_answers(login_client(user), date, settings)
        assert (fast.json()["status"], fast.json()["position"]) == ("WAITING", 1)
        assert fast["Retry-After"]
        assert_same_answer(fast, full, 201)
        assert len(view_calls) == 2

    def test_keeping_the_place_held(self, date, user, settings, view_calls):
        fill_capacity(date, settings)
        client = login_client(user)
        first = enter(client, date)
        settings.QUEUE_ENTRY_FAST_PATH = True
        fast = enter(client, date)
        settings.QUEUE_ENTRY_FAST_PATH = False
        full = enter(client, date)
        assert fast.json()["number"] == full.json()["number"] == first.json()["number"]
        assert_same_answer(fast, full, 200)
        assert len(view_calls) == 1

    def test_pre_queued_with_the_buyers_nonce(self, prequeue_date, user, settings, view_calls):
        fast, full = both_answers(login_client(user), prequeue_date, settings, draw_nonce="my-own nonce")
        assert (fast.json()["position"], fast.json()["draw_nonce"]) == (None, "my-own nonce")
        assert full.json()["draw_nonce"] == "my-own nonce"
        assert_same_answer(fast, full, 201)
        assert len(view_calls) == 2

    def test_pre_queued_with_the_servers_nonce(self, prequeue_date, user, settings, view_calls):
        fast, full = both_answers(login_client(user), prequeue_date, settings)
        assert fast.json()["opens_at"] is not None and fast.json()["draw_nonce"]
        assert_same_answer(fast, full, 201)

    def test_a_charset_and_an_accept_that_allow_json(self, date, settings, view_calls):
        for accept in ("application/json", "text/html, */*;q=0.1", "application/*"):
            response = login_client(UserFactory()).post(
                "/api/queue",
                json.dumps(body(date)),
                content_type="application/json; charset=UTF-8",
                HTTP_ACCEPT=accept,
            )
            assert response.status_code == 201
        assert view_calls == []

    def test_the_entry_is_counted_against_the_rate_limit(self, date, user, settings, view_calls):
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK,
            DEFAULT_THROTTLE_RATES=dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], queue_enter="1/min"),
        )
        client = login_client(user)
        assert enter(client, date).status_code == 201
        assert view_calls == []
        # Counted by the fast path: the next one is over the limit, refused by the view (the fast path
        # tried it, was refused and took its count back; the view counts and refuses it once more).
        assert_error(enter(client, date), 429, "THROTTLED")
        assert_error(enter(client, date), 429, "THROTTLED")
        assert len(view_calls) == 2


class TestTheViewAnswersTheRest:
    """Each refusal is the view's, in the error shape, exactly as without the fast path, and leaves
    nobody in the line."""

    def test_no_token(self, date, api_client, view_calls):
        assert_error(enter(api_client, date), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    def test_an_expired_token(self, date, user, api_client, view_calls):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=-dt.timedelta(seconds=1))
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_error(enter(api_client, date), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    def test_a_revoked_token_takes_no_place(self, date, user, view_calls):
        client = login_client(user)
        client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
        assert_error(enter(client, date), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1
        assert not in_line(user, date)

    @pytest.mark.parametrize(
        "sent",
        [
            {"concert_id": "abc"},
            {"concert_id": 0},
            {"concert_date_id": None},
            {"concert_id": True},
            {"draw_nonce": ""},
            {"draw_nonce": "é"},
            {"extra": 1},
        ],
    )
    def test_a_bad_body(self, date, user, sent, view_calls):
        response = login_client(user).post("/api/queue", {**body(date), **sent}, format="json")
        if "extra" in sent:
            assert response.status_code == 201  # the view ignores unknown fields: it answers them
        else:
            assert_error(response, 400, "VALIDATION_ERROR")
        assert len(view_calls) == 1

    @pytest.mark.parametrize(
        ("raw", "content_type"),
        [
            ('{"concert_id": 1, "concert_date_id": 1', "application/json"),
            ("[1, 2]", "application/json"),
            ('{"concert_id": NaN, "concert_date_id": 1}', "application/json"),
            ("", "application/json"),
            ('{"concert_id": 1, "concert_date_id": 1}', "application/json; charset=latin-1"),
            ("concert_id=1&concert_date_id=1", "application/x-www-form-urlencoded"),
            ('{"concert_id": 1, "concert_date_id": 1, "draw_nonce": "' + "x" * 600 + '"}', "application/json"),
        ],
    )
    def test_a_body_that_is_not_the_common_case(self, date, user, raw, content_type, view_calls):
        raw = raw.replace('"concert_id": 1', f'"concert_id": {date.concert_id}').replace(
            '"concert_date_id": 1', f'"concert_date_id": {date.pk}'
        )
        raw = raw.replace("concert_id=1&concert_date_id=1", f"concert_id={date.concert_id}&concert_date_id={date.pk}")
        response = login_client(user).post("/api/queue", raw, content_type=content_type)
        assert len(view_calls) == 1
        assert response.status_code in (201, 400, 415), response.content  # whatever the view says

    def test_an_unknown_date(self, date, user, view_calls):
        response = login_client(user).post(
            "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk + 1000}, format="json"
        )
        assert_error(response, 404, "NOT_FOUND")
        assert len(view_calls) == 1

    def test_too_early(self, user, view_calls):
        early = make_date(opens_in=dt.timedelta(days=30), starts_in=dt.timedelta(days=60))
        assert_error(enter(login_client(user), early), 409, "BOOKING_CLOSED")
        assert len(view_calls) == 1

    def test_sold_out(self, date, user, view_calls):
        get_redis().hset(counts_key(date.pk), mapping={"available": 0, "held": 0})
        assert_error(enter(login_client(user), date), 409, "SOLD_OUT")
        assert len(view_calls) == 1
        assert not in_line(user, date)

    def test_an_unverified_email(self, date, settings, view_calls):
        settings.REQUIRE_VERIFIED_EMAIL = True
        client = login_client(UserFactory(email_verified=False))
        assert_error(enter(client, date), 403, "EMAIL_NOT_VERIFIED")
        assert len(view_calls) == 1

    def test_an_accept_json_cannot_satisfy(self, date, user, view_calls):
        response = login_client(user).post("/api/queue", body(date), format="json", HTTP_ACCEPT="text/html")
        assert_error(response, 406, "NOT_ACCEPTABLE")
        assert len(view_calls) == 1

    def test_redis_down(self, date, user, view_calls):
        client = login_client(user)
        with redis_unreachable():
            assert_error(enter(client, date), 503, "SERVICE_UNAVAILABLE")
        assert len(view_calls) == 1

    def test_off(self, date, user, settings, view_calls):
        settings.QUEUE_ENTRY_FAST_PATH = False
        assert enter(login_client(user), date).status_code == 201
        assert len(view_calls) == 1
