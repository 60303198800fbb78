"""The catalogue endpoints against API.md: shapes, pagination, availability, error codes, the queue
token on the seat map, and a bounded number of queries whatever the data size."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.concerts import seat_map, services
from apps.concerts.models import Inventory, Seat, SeatStatus
from apps.concerts.serializers import SeatSerializer
from tests.factories import ConcertFactory, UserFactory, make_date, seat_ids
from tests.helpers import assert_error, login_client, reserve_seats

pytestmark = pytest.mark.django_db

DATE_FIELDS = {"id", "starts_at", "booking_opens_at", "total_seats", "remaining_seats", "is_available"}


def hold(date, ids) -> None:
    with transaction.atomic():
        services.mark_seats_held(
            concert_date_id=date.pk, seat_ids=ids, held_until=timezone.now() + dt.timedelta(minutes=5)
        )


class TestConcertList:
    def test_shape_and_pagination(self, api_client):
        first = make_date(starts_in=dt.timedelta(days=10))
        make_date(concert=first.concert, starts_in=dt.timedelta(days=20))
        ConcertFactory.create_batch(4)  # concerts without dates yet
        body = api_client.get("/api/concerts?page_size=2").json()
        assert body["count"] == 5 and len(body["results"]) == 2 and body["previous"] is None
        assert "page=2" in body["next"]
        item = body["results"][0]
        assert item == {
            "id": first.concert_id, "name": first.concert.name, "artist": first.concert.artist,
            "venue": {"id": first.concert.venue_id, "name": first.concert.venue.name},
            "first_date": item["first_date"], "last_date": item["last_date"],
        }  # fmt: skip
        starts = sorted(d.starts_at for d in first.concert.dates.all())
        assert dt.datetime.fromisoformat(item["first_date"]) == starts[0]
        assert dt.datetime.fromisoformat(item["last_date"]) == starts[-1]
        assert body["results"][1]["first_date"] is None and body["results"][1]["last_date"] is None
        last = api_client.get("/api/concerts?page=3&page_size=2").json()
        assert len(last["results"]) == 1 and last["next"] is None

    def test_needs_no_login_and_ignores_a_bad_token(self, api_client):
        ConcertFactory()
        api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        assert api_client.get("/api/concerts").status_code == 200

    def test_queries_do_not_grow_with_rows(self, api_client, django_assert_max_num_queries):
        for concert in ConcertFactory.create_batch(30):
            make_date(concert=concert)
        with django_assert_max_num_queries(2):  # count + page
            body = api_client.get("/api/concerts?page_size=100").json()
        assert body["count"] == 30 and len(body["results"]) == 30

    @pytest.mark.parametrize("query", ["page=abc", "page=0", "page_size=-1", "page_size=x"])
    def test_bad_paging_is_a_validation_error(self, api_client, query):
        assert_error(api_client.get(f"/api/concerts?{query}"), 400, "VALIDATION_ERROR")

    def test_a_page_past_the_end_is_not_found(self, api_client):
        ConcertFactory()
        assert_error(api_client.get("/api/concerts?page=9"), 404, "NOT_FOUND")


class TestConcertDetail:
    def test_shape(self, api_client):
        date = make_date()
        later = make_date(concert=date.concert, starts_in=dt.timedelta(days=60))
        concert, venue = date.concert, date.concert.venue
        body = api_client.get(f"/api/concerts/{concert.pk}").json()
        assert {k: body[k] for k in ("id", "name", "artist", "description")} == {
            "id": concert.pk, "name": concert.name, "artist": concert.artist, "description": concert.description,
        }  # fmt: skip
        assert body["venue"] == {"id": venue.pk, "name": venue.name, "address": venue.address, "seat_count": 20}
        assert [d["id"] for d in body["dates"]] == [date.pk, later.pk]
        assert set(body["dates"][0]) == DATE_FIELDS

    def test_queries_do_not_grow_with_dates(self, api_client, django_assert_max_num_queries):
        concert = ConcertFactory()
        for day in range(15):
            make_date(concert=concert, starts_in=dt.timedelta(days=day + 1))
        with django_assert_max_num_queries(2):  # concert + venue, dates + inventory
            body = api_client.get(f"/api/concerts/{concert.pk}").json()
        assert len(body["dates"]) == 15

    @pytest.mark.parametrize("path", ["/api/concerts/987654321", "/api/concerts/abc", "/api/concerts/-1"])
    def test_unknown_ids_are_not_found(self, api_client, path):
        assert_error(api_client.get(path), 404, "NOT_FOUND")


class TestConcertDates:
    def test_shape_and_counts(self, api_client):
        date = make_date()
        hold(date, seat_ids(date, 2))
        body = api_client.get(f"/api/concerts/{date.concert_id}/dates").json()
        assert body == [
            {
                "id": date.pk, "starts_at": body[0]["starts_at"], "booking_opens_at": body[0]["booking_opens_at"],
                "total_seats": 20, "remaining_seats": 18, "is_available": True,
            }
        ]  # fmt: skip
        assert dt.datetime.fromisoformat(body[0]["starts_at"]) == date.starts_at
        assert dt.datetime.fromisoformat(body[0]["booking_opens_at"]) == date.booking_opens_at

    def test_remaining_counts_neither_held_nor_reserved(self, api_client):
        date = make_date()
        ids = seat_ids(date, 3)
        hold(date, ids)
        with transaction.atomic():
            reserve_seats(concert_date_id=date.pk, seat_ids=ids[:1])
        assert api_client.get(f"/api/concerts/{date.concert_id}/dates").json()[0]["remaining_seats"] == 17

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({}, True),
            ({"booking_open": False}, False),
            ({"opens_in": dt.timedelta(hours=2)}, False),  # the booking window has not started
            ({"starts_in": -dt.timedelta(hours=1)}, False),  # the show is over
        ],
    )
    def test_is_available(self, api_client, kwargs, expected):
        date = make_date(**kwargs)
        assert api_client.get(f"/api/concerts/{date.concert_id}/dates").json()[0]["is_available"] is expected

    def test_a_sold_out_date_is_not_available(self, api_client):
        date = make_date()
        Seat.objects.filter(concert_date=date).update(status=SeatStatus.RESERVED)
        Inventory.objects.filter(concert_date=date).update(remaining=0)
        body = api_client.get(f"/api/concerts/{date.concert_id}/dates").json()
        assert (body[0]["remaining_seats"], body[0]["is_available"]) == (0, False)

    def test_an_expired_unswept_hold_counts_as_free_as_on_the_seat_map(self, api_client):
        date = make_date()
        ids = list(date.seats.order_by("pk").values_list("pk", flat=True))
        hold(date, ids[:3])  # live
        with transaction.atomic():
            services.mark_seats_held(concert_date_id=date.pk, seat_ids=ids[3:], held_until=timezone.now())
        # Every seat is HELD; all but 3 by a hold that has just expired, and no sweep has run.
        body = api_client.get(f"/api/concerts/{date.concert_id}/dates").json()
        assert (body[0]["remaining_seats"], body[0]["is_available"]) == (len(ids) - 3, True)
        assert seat_map.seat_status(concert_date_id=date.pk).codes.count("A") == len(ids) - 3
        concert = api_client.get(f"/api/concerts/{date.concert_id}").json()
        assert (concert["dates"][0]["remaining_seats"], concert["dates"][0]["is_available"]) == (len(ids) - 3, True)

    def test_a_concert_without_dates_has_an_empty_list(self, api_client):
        assert api_client.get(f"/api/concerts/{ConcertFactory().pk}/dates").json() == []

    def test_queries_do_not_grow_with_dates(self, api_client, django_assert_max_num_queries):
        concert = ConcertFactory()
        for day in range(15):
            make_date(concert=concert, starts_in=dt.timedelta(days=day + 1))
        with django_assert_max_num_queries(2):  # the concert exists, dates + inventory
            body = api_client.get(f"/api/concerts/{concert.pk}/dates").json()
        assert len(body) == 15 and [d["starts_at"] for d in body] == sorted(d["starts_at"] for d in body)

    def test_an_unknown_concert_is_not_found(self, api_client):
        assert_error(api_client.get("/api/concerts/987654321/dates"), 404, "NOT_FOUND")


class TestSeats:
    def url(self, date, query=""):
        return f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats{query}"

    def test_shape(self, concert_date, admitted_client):
        body = admitted_client(concert_date).get(self.url(concert_date)).json()
        first = concert_date.seats.get(seat_num=1)
        assert len(body) == 20 and [s["seat_num"] for s in body] == list(range(1, 21))
        assert body[0] == {"id": first.pk, "seat_num": 1, "section": "VIP", "row": "A", "price": "150000.00",
                           "status": "AVAILABLE"}  # fmt: skip
        # the documented OutputSerializer accepts every row exactly as sent
        serializer = SeatSerializer(data=body, many=True)
        assert serializer.is_valid(), serializer.errors
        assert SeatSerializer(serializer.validated_data, many=True).data == body

    def test_status_filter(self, concert_date, admitted_client):
        client = admitted_client(concert_date)
        ids = seat_ids(concert_date, 3)
        hold(concert_date, ids)
        with transaction.atomic():
            reserve_seats(concert_date_id=concert_date.pk, seat_ids=ids[:1])
        get = lambda status: client.get(self.url(concert_date, f"?status={status}")).json()  # noqa: E731
        assert [s["id"] for s in get("RESERVED")] == ids[:1]
        assert [s["id"] for s in get("HELD")] == ids[1:]
        available = get("AVAILABLE")
        assert len(available) == 17 and {s["status"] for s in available} == {"AVAILABLE"}
        assert len(get("")) == 20  # an empty filter is no filter, like a form left blank

    @pytest.mark.parametrize("query", ["?status=FOO", "?status=available", "?status=HELD,RESERVED"])
    def test_a_bad_status_is_a_validation_error(self, concert_date, admitted_client, query):
        error = assert_error(admitted_client(concert_date).get(self.url(concert_date, query)), 400, "VALIDATION_ERROR")
        assert "status" in error["details"]

    def test_a_committed_change_shows_in_the_next_read(
        self, concert_date, admitted_client, django_capture_on_commit_callbacks
    ):
        client = admitted_client(concert_date)
        url = self.url(concert_date, "?status=HELD")
        assert client.get(url).json() == []  # warms the cache
        target = seat_ids(concert_date, 1)
        with django_capture_on_commit_callbacks(execute=True):
            hold(concert_date, target)
        assert [s["id"] for s in client.get(url).json()] == target

    def test_a_warm_read_costs_no_query_beyond_the_login(
        self, concert_date, admitted_client, django_assert_max_num_queries
    ):
        client = admitted_client(concert_date)
        client.get(self.url(concert_date))
        with django_assert_max_num_queries(1):  # the user row the JWT names; the map comes from Redis
            assert len(client.get(self.url(concert_date)).json()) == 20

    def test_needs_a_login(self, concert_date, api_client):
        assert_error(api_client.get(self.url(concert_date)), 401, "NOT_AUTHENTICATED")

    def test_needs_the_queue_token_of_this_user_and_date(self, concert_date, admitted_client):
        other = make_date(concert=concert_date.concert)
        assert_error(login_client(UserFactory()).get(self.url(concert_date)), 403, "QUEUE_TOKEN_REQUIRED")
        assert_error(admitted_client(other).get(self.url(concert_date)), 403, "QUEUE_TOKEN_REQUIRED")
        someone_else = admitted_client(concert_date)
        stolen = login_client(UserFactory())
        stolen.credentials(
            HTTP_AUTHORIZATION=f"Bearer {stolen.tokens['access']}",
            HTTP_X_QUEUE_TOKEN=someone_else._credentials["HTTP_X_QUEUE_TOKEN"],
        )
        assert_error(stolen.get(self.url(concert_date)), 403, "QUEUE_TOKEN_REQUIRED")
        bad = login_client(UserFactory())
        bad.credentials(HTTP_AUTHORIZATION=f"Bearer {bad.tokens['access']}", HTTP_X_QUEUE_TOKEN="forged.token")
        assert_error(bad.get(self.url(concert_date)), 403, "QUEUE_TOKEN_REQUIRED")

    def test_a_date_of_another_concert_is_not_found(self, concert_date, admitted_client):
        other = make_date()
        mismatched = f"/api/concerts/{other.concert_id}/dates/{concert_date.pk}/seats"
        assert_error(admitted_client(concert_date).get(mismatched), 404, "NOT_FOUND")

    def test_unknown_dates_and_concerts_are_not_found(self, concert_date, admitted_client):
        client = admitted_client(concert_date)
        assert_error(client.get(f"/api/concerts/{concert_date.concert_id}/dates/987654321/seats"), 404, "NOT_FOUND")
        assert_error(client.get(f"/api/concerts/987654321/dates/{concert_date.pk}/seats"), 404, "NOT_FOUND")
