"""The status poll's fast path (apps/queue/fast_path.py) answers the common poll with the view's
own bytes and headers, without the view; anything else reaches the view, which answers as before."""

import datetime as dt

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.queue import api
from tests.factories import UserFactory
from tests.helpers import assert_error, login_client
from tests.queue.helpers import count_dispatches, fill_capacity, same_admission

pytestmark = pytest.mark.django_db

NOT_COMPARED = {"X-Request-ID"}


def path(date, **extra) -> str:
    query = {"concert_id": date.concert_id, "concert_date_id": date.pk, **extra}
    return "/api/queue/status?" + "&".join(f"{name}={value}" for name, value in query.items())


@pytest.fixture
def view_calls(monkeypatch):
    """How many polls reached the view."""
    return count_dispatches(monkeypatch, api.QueueStatusApi)


def both_answers(client, url, settings, **headers):
    """The same poll answered by the fast path, then by the view."""
    settings.QUEUE_STATUS_FAST_PATH = True
    fast = client.get(url, **headers)
    settings.QUEUE_STATUS_FAST_PATH = False
    full = client.get(url, **headers)
    settings.QUEUE_STATUS_FAST_PATH = True
    return fast, full


def assert_same_answer(fast, full) -> None:
    assert fast.status_code == full.status_code == 200
    fast_body, full_body = fast.json(), full.json()
    # The only random part of an answer: the jitter of the next poll. And a READY answer's token, signed
    # when answered, differs when the two answers straddle a second: the same admission all the same.
    assert (fast_body.pop("poll_after_seconds") is None) == (full_body.pop("poll_after_seconds") is None)
    fast_token, full_token = fast_body.pop("token"), full_body.pop("token")
    assert fast_token == full_token or same_admission(fast_token, full_token)
    assert fast_body == full_body
    fast_headers = {k: v for k, v in fast.headers.items() if k not in NOT_COMPARED | {"Retry-After", "Content-Length"}}
    full_headers = {k: v for k, v in full.headers.items() if k not in NOT_COMPARED | {"Retry-After", "Content-Length"}}
    assert fast_headers == full_headers
    assert ("Retry-After" in fast.headers) == ("Retry-After" in full.headers)
    assert fast["X-Request-ID"] and fast["X-Request-ID"] != full["X-Request-ID"]


class TestTheSameAnswer:
    def test_ready(self, date, user, settings, view_calls):
        client = login_client(user)
        client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        fast, full = both_answers(client, path(date), settings)
        assert fast.json()["status"] == "READY"
        assert_same_answer(fast, full)
        assert len(view_calls) == 1  # the second poll, with the fast path off

    def test_waiting_with_a_place(self, date, user, settings, view_calls):
        fill_capacity(date, settings)
        client = login_client(user)
        client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        fast, full = both_answers(client, path(date), settings)
        assert (fast.json()["status"], fast.json()["position"]) == ("WAITING", 1)
        assert fast["Retry-After"]
        assert_same_answer(fast, full)
        assert len(view_calls) == 1

    def test_not_in_queue(self, date, user, settings, view_calls):
        fast, full = both_answers(login_client(user), path(date), settings)
        assert fast.json()["status"] == "NOT_IN_QUEUE"
        assert_same_answer(fast, full)
        assert len(view_calls) == 1

    def test_pre_queued(self, prequeue_date, user, settings, view_calls):
        date = prequeue_date
        client = login_client(user)
        entered = client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        assert entered.status_code == 201, entered.content
        fast, full = both_answers(client, path(date), settings)
        assert (fast.json()["position"], fast.json()["opens_at"]) == (None, full.json()["opens_at"])
        assert fast.json()["opens_at"] is not None
        assert_same_answer(fast, full)
        assert len(view_calls) == 1

    def test_an_accept_that_allows_json(self, date, user, settings, view_calls):
        client = login_client(user)
        for accept in ("application/json", "text/html, */*;q=0.1", "application/*"):
            assert client.get(path(date), HTTP_ACCEPT=accept).status_code == 200
        assert view_calls == []


class TestTheViewAnswersTheRest:
    """Each refusal is the view's, in the error shape, exactly as without the fast path."""

    def test_no_token(self, date, api_client, view_calls):
        assert_error(api_client.get(path(date)), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    def test_a_bad_token(self, date, api_client, view_calls):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
        assert_error(api_client.get(path(date)), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    def test_an_expired_token(self, date, user, api_client, view_calls):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=-dt.timedelta(seconds=1))
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_error(api_client.get(path(date)), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    def test_a_revoked_token(self, date, user, view_calls):
        client = login_client(user)
        client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
        assert_error(client.get(path(date)), 401, "NOT_AUTHENTICATED")
        assert len(view_calls) == 1

    @pytest.mark.parametrize(
        "query",
        [
            "concert_id=abc&concert_date_id=1",
            "concert_id=1",
            "concert_id=0&concert_date_id=1",
            "concert_id=-1&concert_date_id=1",
        ],
    )
    def test_a_bad_query(self, user, query, view_calls):
        assert_error(login_client(user).get(f"/api/queue/status?{query}"), 400, "VALIDATION_ERROR")
        assert len(view_calls) == 1

    def test_an_extra_parameter_goes_to_the_view(self, date, user, view_calls):
        assert login_client(user).get(path(date, extra=1)).status_code == 200
        assert len(view_calls) == 1

    def test_an_unknown_date(self, date, user, view_calls):
        url = f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk + 1000}"
        assert_error(login_client(user).get(url), 404, "NOT_FOUND")
        assert len(view_calls) == 1

    def test_an_accept_json_cannot_satisfy(self, date, user, view_calls):
        response = login_client(user).get(path(date), HTTP_ACCEPT="text/html")
        assert_error(response, 406, "NOT_ACCEPTABLE")
        assert len(view_calls) == 1

    def test_other_methods_are_the_views(self, date, user, view_calls):
        response = login_client(UserFactory()).post(path(date), {}, format="json")
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
        assert len(view_calls) == 1
