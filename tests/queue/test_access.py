"""The waiting room's endpoints check the access token's revocation and the rate limits in the
queue operation's own Redis round trip."""

import pytest
from rest_framework.settings import api_settings

from apps.accounts import services as accounts
from apps.common.redis import get_redis
from apps.queue.keys import QueueKeys
from apps.queue.models import QueueStatus
from tests.factories import UserFactory
from tests.helpers import assert_error, login_client
from tests.queue.helpers import enter, fill_capacity, status

pytestmark = pytest.mark.django_db


def query(date) -> str:
    return f"concert_id={date.concert_id}&concert_date_id={date.pk}"


class TestOneRoundTrip:
    def test_a_status_poll_is_one_round_trip(self, date, user, round_trips, django_assert_num_queries):
        client = login_client(user)
        client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        client.get(f"/api/queue/status?{query(date)}")  # the script loaded, as in a running server
        round_trips.clear()
        with django_assert_num_queries(0):
            response = client.get(f"/api/queue/status?{query(date)}")
        assert response.status_code == 200
        assert len(round_trips) == 1

    def test_an_entry_with_its_rate_limits_is_one_round_trip(self, date, user, settings, round_trips):
        fill_capacity(date, settings)
        client = login_client(user)
        status(1, date)  # the date's facts are cached, as in a running server
        round_trips.clear()
        response = client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        assert (response.status_code, response.json()["position"]) == (201, 1)
        assert len(round_trips) == 1
        # The per-user and per-IP counters were counted in that trip.
        assert len(get_redis().keys("*throttle:queue_enter*")) == 2


class TestRevokedTokens:
    def test_a_logged_out_session_cannot_poll_or_enter(self, date, user, settings):
        fill_capacity(date, settings)
        client = login_client(user)
        assert (
            client.post(
                "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json"
            ).status_code
            == 201
        )
        client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
        assert_error(client.get(f"/api/queue/status?{query(date)}"), 401, "NOT_AUTHENTICATED")
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        assert_error(client.post("/api/queue", body, format="json"), 401, "NOT_AUTHENTICATED")

    def test_a_refused_entry_is_taken_back(self, date, user, settings):
        fill_capacity(date, settings)
        client = login_client(user)
        accounts.end_all_sessions(user_id=user.pk)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        assert_error(client.post("/api/queue", body, format="json"), 401, "NOT_AUTHENTICATED")
        # The entry the script made before the verdict was read is gone again.
        assert status(user.pk, date).status == QueueStatus.NOT_IN_QUEUE
        assert get_redis().zcard(QueueKeys(date.pk).waiting) == 0

    def test_a_deactivated_users_unexpired_token_is_refused_everywhere(self, date, settings):
        fill_capacity(date, settings)
        user = UserFactory()
        client = login_client(user)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        assert client.post("/api/queue", body, format="json").status_code == 201
        accounts.deactivate_user(user_id=user.pk)
        assert_error(client.get(f"/api/queue/status?{query(date)}"), 401, "NOT_AUTHENTICATED")
        assert_error(client.post("/api/queue", body, format="json"), 401, "NOT_AUTHENTICATED")
        assert_error(client.post("/api/reservations/token", body, format="json"), 401, "NOT_AUTHENTICATED")
        # Leaving is checked before it acts: a revoked token cannot take its owner out of the line.
        assert_error(client.delete(f"/api/queue?{query(date)}"), 401, "NOT_AUTHENTICATED")
        assert status(user.pk, date).position == 1

    def test_an_entry_over_the_rate_limit_is_refused_and_taken_back(self, date, user, settings):
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK,
            DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, queue_enter="1/min"),
        )
        fill_capacity(date, settings)
        client = login_client(user)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        assert client.post("/api/queue", body, format="json").status_code == 201
        client.delete(f"/api/queue?{query(date)}")
        response = client.post("/api/queue", body, format="json")
        assert_error(response, 429, "THROTTLED")
        assert 1 <= int(response["Retry-After"]) <= 120  # sliding: the entry weighs on the next window too
        assert enter(user.pk + 1, date).position == 1  # the refused entry holds no place
