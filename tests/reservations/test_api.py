import datetime as dt

import pytest
from django.utils import timezone

from apps.reservations import services
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, hold_via_api, login_client, queue_token

pytestmark = pytest.mark.django_db


class TestCreate:
    def test_hold_answers_the_contract_shape(self, buyer, concert_date):
        ids = seat_ids(concert_date, 2)
        response = hold_via_api(buyer, concert_date, ids)
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) >= {
            "id",
            "status",
            "concert_id",
            "concert_date_id",
            "seats",
            "total_price",
            "expires_at",
            "created_at",
        }
        assert (body["status"], body["concert_id"], body["concert_date_id"]) == (
            "HELD",
            concert_date.concert_id,
            concert_date.pk,
        )
        assert [seat["id"] for seat in body["seats"]] == ids
        assert set(body["seats"][0]) >= {"id", "seat_num", "price"}
        assert body["total_price"] == "100000.00"
        expires = dt.datetime.fromisoformat(body["expires_at"])
        assert 290 < (expires - timezone.now()).total_seconds() <= 300

    def test_taken_seats_are_listed(self, buyer, concert_date):
        ids = seat_ids(concert_date, 3)
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=ids[1:])
        error = assert_error(hold_via_api(buyer, concert_date, ids), 409, "SEAT_UNAVAILABLE")
        assert error["details"] == {"seat_ids": ids[1:]}

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"concert_date_id": "x", "seat_ids": [1]},
            {"seat_ids": [1]},
            {"concert_date_id": 1, "seat_ids": []},
            {"concert_date_id": 1, "seat_ids": [1, 1]},
            {"concert_date_id": 1, "seat_ids": [1, 2, 3, 4, 5]},
            {"concert_date_id": 1, "seat_ids": "1,2"},
            {"concert_date_id": 1, "seat_ids": [-1]},
            {"concert_date_id": 1, "seat_ids": [10**30]},
        ],
    )
    def test_bad_bodies_are_validation_errors(self, buyer, body):
        assert_error(buyer.post("/api/reservations", body, format="json"), 400, "VALIDATION_ERROR")
        assert not Reservation.objects.exists()

    def test_unknown_seat_is_not_found(self, buyer, concert_date):
        assert_error(hold_via_api(buyer, concert_date, [10**15]), 404, "NOT_FOUND")

    def test_without_a_queue_token_is_refused(self, user, concert_date):
        client = login_client(user)
        assert_error(hold_via_api(client, concert_date, seat_ids(concert_date, 1)), 403, "QUEUE_TOKEN_REQUIRED")

    def test_a_token_for_another_date_is_refused(self, user, buyer):
        other = make_date()
        assert_error(hold_via_api(buyer, other, seat_ids(other, 1)), 403, "QUEUE_TOKEN_REQUIRED")

    def test_another_users_token_is_refused(self, user, concert_date):
        client = login_client(user)
        stolen = queue_token(UserFactory(), concert_date)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=stolen)
        assert_error(hold_via_api(client, concert_date, seat_ids(concert_date, 1)), 403, "QUEUE_TOKEN_REQUIRED")

    def test_needs_login(self, api_client, concert_date):
        assert_error(hold_via_api(api_client, concert_date, [1]), 401, "NOT_AUTHENTICATED")


class TestRead:
    def test_list_is_mine_newest_first_with_bounded_queries(
        self, buyer, user, concert_date, django_assert_max_num_queries
    ):
        other_date = make_date()
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2))
        services.hold_seats(user=user, concert_date_id=other_date.pk, seat_ids=seat_ids(other_date, 3))
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date)[5:6])
        with django_assert_max_num_queries(4):
            response = buyer.get("/api/reservations")
        body = response.json()
        assert body["count"] == 2
        assert [r["concert_date_id"] for r in body["results"]] == [other_date.pk, concert_date.pk]
        assert len(body["results"][0]["seats"]) == 3

    def test_detail_of_another_users_reservation_is_not_found(self, buyer, concert_date):
        theirs = services.hold_seats(
            user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        assert_error(buyer.get(f"/api/reservations/{theirs.pk}"), 404, "NOT_FOUND")
        assert_error(buyer.get("/api/reservations/99999999999999999999999"), 404, "NOT_FOUND")

    def test_an_expired_hold_reads_expired_before_the_sweep(self, buyer, user, concert_date):
        mine = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1))
        Reservation.objects.filter(pk=mine.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert buyer.get(f"/api/reservations/{mine.pk}").json()["status"] == "EXPIRED"
