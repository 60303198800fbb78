"""The seat map's queue-protected reads (`…/seat-status`, `…/seats`) check the access token's
revocation, check the queue token (and move the idle deadline on) and read the map's version in
one Redis round trip; every refusal keeps its answer: 401 for a revoked access token whatever else
is wrong, 404 for a date of another concert, 403 QUEUE_TOKEN_REQUIRED for a queue token that is
missing, refused, expired or idle, 503 when Redis is down."""

import pytest

from apps.accounts import services as accounts
from apps.common.redis import get_redis
from apps.concerts import seat_map
from apps.queue import services
from apps.queue.keys import QueueKeys
from tests.factories import UserFactory, make_date
from tests.helpers import assert_error, login_client, redis_unreachable

pytestmark = pytest.mark.django_db

READS = ["seat-status", "seats", "seats?status=AVAILABLE"]


def url(date, what: str) -> str:
    return f"/api/concerts/{date.concert_id}/dates/{date.pk}/{what}"


def commands(sent: list) -> list[str]:
    """The command names in what was sent (a pipeline is one send of several commands)."""
    names = []
    for packed in sent:
        raw = b"".join(packed) if isinstance(packed, list) else bytes(packed)
        for command in raw.split(b"*")[1:]:
            parts = command.split(b"\r\n")
            if len(parts) > 2 and parts[1].startswith(b"$"):
                names.append(parts[2].decode().upper())
    return names


class TestOneRoundTrip:
    @pytest.mark.parametrize("what", READS)
    def test_a_warm_read_and_its_304_are_one_round_trip(
        self, what, concert_date, buyer, round_trips, django_assert_num_queries
    ):
        first = buyer.get(url(concert_date, what))  # builds and stores the map
        assert first.status_code == 200
        round_trips.clear()
        with django_assert_num_queries(0):
            assert buyer.get(url(concert_date, what)).status_code == 200
        assert len(round_trips) == 1
        # The revocation keys, the queue token's record (with the idle bookkeeping), the version and the
        # change log after this process's copy.
        assert commands(round_trips) == ["GET", "GET", "GET", "ZRANGEBYSCORE", "EVALSHA"]
        round_trips.clear()
        with django_assert_num_queries(0):
            not_modified = buyer.get(url(concert_date, what), HTTP_IF_NONE_MATCH=first["ETag"])
        assert not_modified.status_code == 304 and not_modified["ETag"] == first["ETag"]
        assert len(round_trips) == 1

    def test_the_version_read_in_that_trip_shows_a_committed_change(self, concert_date, buyer):
        before = buyer.get(url(concert_date, "seat-status"))
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
        after = buyer.get(url(concert_date, "seat-status"), HTTP_IF_NONE_MATCH=before["ETag"])
        assert after.status_code == 200 and after.json()["version"] == before.json()["version"] + 1

    def test_a_lost_version_counter_starts_again_above_the_old_one(self, concert_date, buyer):
        before = buyer.get(url(concert_date, "seat-status")).json()["version"]
        get_redis().delete(seat_map.versions.version_key(concert_date.pk))  # evicted, or Redis restarted
        response = buyer.get(url(concert_date, "seat-status"))
        assert response.status_code == 200 and response.json()["version"] > before
        assert seat_map.current_version(concert_date.pk) == response.json()["version"]


class TestQueueToken:
    def test_a_read_moves_the_idle_deadline_on(self, concert_date, user, settings, clock):
        settings.QUEUE_ACTIVE_IDLE_SECONDS = 60
        client = login_client(user)
        token = services.issue_access_token(user_id=user.pk, concert_date_id=concert_date.pk).token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
        idle = QueueKeys(concert_date.pk).idle
        issued = get_redis().zscore(idle, str(user.pk))
        clock.advance(40)
        assert client.get(url(concert_date, "seat-status")).status_code == 200
        assert get_redis().zscore(idle, str(user.pk)) == issued + 40_000
        clock.advance(40)  # past the first deadline, not the moved one
        assert client.get(url(concert_date, "seats")).status_code == 200

    def test_an_idle_buyer_loses_the_place(self, concert_date, user, settings, clock):
        settings.QUEUE_ACTIVE_IDLE_SECONDS = 60
        client = login_client(user)
        token = services.issue_access_token(user_id=user.pk, concert_date_id=concert_date.pk).token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
        clock.advance(61)
        assert_error(client.get(url(concert_date, "seat-status")), 403, "QUEUE_TOKEN_REQUIRED")
        assert get_redis().zscore(QueueKeys(concert_date.pk).active, str(user.pk)) is None  # reclaimed
        assert_error(client.get(url(concert_date, "seats")), 403, "QUEUE_TOKEN_REQUIRED")

    @pytest.mark.parametrize("what", READS)
    def test_an_expired_token_is_403(self, what, concert_date, user, settings, clock):
        settings.QUEUE_TOKEN_TTL_SECONDS = 1
        client = login_client(user)
        token = services.issue_access_token(user_id=user.pk, concert_date_id=concert_date.pk).token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
        assert client.get(url(concert_date, what)).status_code == 200
        clock.advance(1.1)
        assert_error(client.get(url(concert_date, what)), 403, "QUEUE_TOKEN_REQUIRED")

    def test_an_ended_access_is_403_and_lets_the_view_read_nothing(self, concert_date, buyer, user):
        services.end_access(user_id=user.pk, concert_date_id=concert_date.pk)  # paid, left, reset
        assert_error(buyer.get(url(concert_date, "seat-status")), 403, "QUEUE_TOKEN_REQUIRED")

    def test_the_date_is_checked_before_the_token(self, concert_date, buyer):
        mismatched = f"/api/concerts/{make_date().concert_id}/dates/{concert_date.pk}/seat-status"
        assert_error(buyer.get(mismatched), 404, "NOT_FOUND")
        unknown = f"/api/concerts/{concert_date.concert_id}/dates/987654321/seats"
        assert_error(buyer.get(unknown), 404, "NOT_FOUND")


class TestRevokedAccessToken:
    def revoked_buyer(self, date, user):
        client = login_client(user)
        token = services.issue_access_token(user_id=user.pk, concert_date_id=date.pk).token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
        assert client.get(url(date, "seat-status")).status_code == 200
        client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
        return client, token

    @pytest.mark.parametrize("what", READS)
    def test_logout_ends_the_reads_at_once(self, what, concert_date, user):
        client, _ = self.revoked_buyer(concert_date, user)
        assert_error(client.get(url(concert_date, what)), 401, "NOT_AUTHENTICATED")

    def test_a_deactivated_user_is_refused(self, concert_date, buyer, user):
        assert buyer.get(url(concert_date, "seats")).status_code == 200
        accounts.deactivate_user(user_id=user.pk)
        assert_error(buyer.get(url(concert_date, "seats")), 401, "NOT_AUTHENTICATED")
        assert_error(buyer.get(url(concert_date, "seat-status")), 401, "NOT_AUTHENTICATED")

    @pytest.mark.parametrize("case", ["no queue token", "a forged queue token", "another date's token",
                                      "a date of another concert"])  # fmt: skip
    def test_401_whatever_else_is_wrong_with_the_request(self, case, concert_date, user):
        client, token = self.revoked_buyer(concert_date, user)
        path, queue_token = {
            "no queue token": (url(concert_date, "seat-status"), None),
            "a forged queue token": (url(concert_date, "seat-status"), token[:-1] + ("A" if token[-1] != "A" else "B")),
            "another date's token": (url(make_date(concert=concert_date.concert), "seat-status"), token),
            "a date of another concert": (
                f"/api/concerts/{make_date().concert_id}/dates/{concert_date.pk}/seat-status", token),
        }[case]  # fmt: skip
        headers = {"HTTP_X_QUEUE_TOKEN": queue_token} if queue_token else {}
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", **headers)
        assert_error(client.get(path), 401, "NOT_AUTHENTICATED")

    def test_a_refusal_before_the_token_check_costs_its_own_round_trip_only(self, concert_date, round_trips):
        client = login_client(UserFactory())
        round_trips.clear()
        assert_error(client.get(url(concert_date, "seat-status")), 403, "QUEUE_TOKEN_REQUIRED")
        assert commands(round_trips) == ["GET", "GET"]  # the revocation keys, nothing else


class TestRedisDown:
    @pytest.mark.parametrize("what", READS)
    def test_503_in_the_error_shape(self, what, concert_date, buyer):
        assert buyer.get(url(concert_date, what)).status_code == 200
        with redis_unreachable():
            assert_error(buyer.get(url(concert_date, what)), 503, "SERVICE_UNAVAILABLE")
        assert buyer.get(url(concert_date, what)).status_code == 200  # and back when it is
