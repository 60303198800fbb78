import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from apps.concerts import selectors, services
from apps.concerts.models import Concert, ConcertDate, Inventory, Seat
from apps.queue.services import issue_access_token
from apps.reservations import services as reservations
from tests.conftest import assert_error, login_client
from tests.factories import UserFactory
from tests.reservations.conftest import LAYOUT, make_date, seat_ids

pytestmark = pytest.mark.django_db


class TestDataRules:
    def test_a_date_gets_one_seat_per_place_of_the_layout(self):
        date = make_date()
        seats = list(date.seats.order_by("seat_num"))
        assert len(seats) == date.total_seats == 4 + 16
        assert [s.seat_num for s in seats] == list(range(1, 21))
        assert (seats[0].section, seats[0].row, seats[0].price) == ("VIP", "A", Decimal("150000.00"))
        assert (seats[-1].section, seats[-1].row, seats[-1].price) == ("Floor", "B", Decimal("50000.00"))
        inventory = Inventory.objects.get(concert_date=date)
        assert (inventory.total, inventory.remaining) == (20, 20)

    @pytest.mark.parametrize(
        "layout",
        [[], [{"name": "A"}], [{"name": "A", "rows": 0, "seats_per_row": 1, "price": "1"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "-1"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "1"}, {"name": "A", "rows": 1, "seats_per_row": 1, "price": "1"}],
         "not a list"],
    )  # fmt: skip
    def test_bad_layouts_are_refused(self, layout):
        with pytest.raises(services.ValidationFailed):
            services.create_venue(name="Bad", layout=layout)

    def test_database_constraints(self):
        date = make_date()
        seat = date.seats.first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Seat.objects.create(
                concert_date=date, venue_id=seat.venue_id, seat_num=seat.seat_num, section="X", row="A", price=1
            )
        with pytest.raises(IntegrityError), transaction.atomic():
            Seat.objects.filter(pk=seat.pk).update(price=Decimal("-1"))
        with pytest.raises(IntegrityError), transaction.atomic():
            Inventory.objects.filter(concert_date=date).update(remaining=date.total_seats + 1)
        # remaining is unsigned as well as CHECKed: MariaDB refuses -1 as out of range.
        with pytest.raises((IntegrityError, DataError)), transaction.atomic():
            Inventory.objects.filter(concert_date=date).update(remaining=-1)

    def test_seat_transitions_keep_remaining_equal_to_available(self):
        date = make_date()
        ids = seat_ids(date, 3)

        def available():
            return Seat.objects.filter(concert_date=date, status="AVAILABLE").count()

        def remaining():
            return Inventory.objects.get(concert_date=date).remaining

        with transaction.atomic():
            services.mark_seats_held(concert_date_id=date.pk, seat_ids=ids, held_until=timezone.now())
        assert remaining() == available() == 17
        with transaction.atomic():
            services.mark_seats_reserved(concert_date_id=date.pk, seat_ids=ids[:2])
        assert remaining() == available() == 17
        with transaction.atomic():
            services.release_seats(concert_date_id=date.pk, seat_ids=ids)
        assert remaining() == available() == 20
        with transaction.atomic():
            services.release_seats(concert_date_id=date.pk, seat_ids=ids)  # releasing twice changes nothing
        assert remaining() == available() == 20

    def test_repricing_only_touches_available_seats(self):
        date = make_date()
        held, free = seat_ids(date, 2)
        reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=[held])
        services.set_seat_price(seat_id=free, price=Decimal("1.00"))
        assert Seat.objects.get(pk=free).price == Decimal("1.00")
        with pytest.raises(services.Conflict):
            services.set_seat_price(seat_id=held, price=Decimal("1.00"))
        assert Seat.objects.get(pk=held).status == "HELD"


class TestCatalogueApi:
    def test_concert_list(self, api_client, django_assert_max_num_queries):
        for _ in range(5):
            make_date()
        with django_assert_max_num_queries(2):
            response = api_client.get("/api/concerts?page_size=3")
        body = response.json()
        assert response.status_code == 200 and body["count"] == 5 and len(body["results"]) == 3
        first = body["results"][0]
        assert set(first) == {"id", "name", "artist", "venue", "first_date", "last_date"}
        assert set(first["venue"]) == {"id", "name"}

    def test_concert_detail_and_dates(self, api_client, django_assert_max_num_queries):
        date = make_date()
        services.create_concert_date(concert=date.concert, starts_at=timezone.now() + dt.timedelta(days=60))
        closed = make_date(booking_open=False)
        reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
        with django_assert_max_num_queries(3):
            detail = api_client.get(f"/api/concerts/{date.concert_id}").json()
        assert set(detail) == {"id", "name", "artist", "description", "venue", "dates"}
        assert set(detail["venue"]) == {"id", "name", "address", "seat_count"}
        assert len(detail["dates"]) == 2
        with django_assert_max_num_queries(2):
            dates = api_client.get(f"/api/concerts/{date.concert_id}/dates").json()
        assert set(dates[0]) == {
            "id",
            "starts_at",
            "booking_opens_at",
            "total_seats",
            "remaining_seats",
            "is_available",
        }
        assert (dates[0]["total_seats"], dates[0]["remaining_seats"], dates[0]["is_available"]) == (20, 18, True)
        assert api_client.get(f"/api/concerts/{closed.concert_id}/dates").json()[0]["is_available"] is False

    def test_sold_out_and_past_dates_are_not_available(self, api_client):
        past = make_date(starts_in=-dt.timedelta(days=1))
        assert api_client.get(f"/api/concerts/{past.concert_id}/dates").json()[0]["is_available"] is False
        sold = make_date()
        Seat.objects.filter(concert_date=sold).update(status="RESERVED")
        Inventory.objects.filter(concert_date=sold).update(remaining=0)
        assert api_client.get(f"/api/concerts/{sold.concert_id}/dates").json()[0]["is_available"] is False

    def test_unknown_ids(self, api_client):
        assert_error(api_client.get("/api/concerts/999999"), 404, "NOT_FOUND")
        assert_error(api_client.get("/api/concerts/999999/dates"), 404, "NOT_FOUND")
        assert_error(api_client.get("/api/concerts/abc"), 404, "NOT_FOUND")


class TestSeatMap:
    def client_for(self, date):
        user = UserFactory()
        client = login_client(user)
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}",
            HTTP_X_QUEUE_TOKEN=issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
        )
        return client

    def test_seat_map_shape_and_filter(self, django_assert_max_num_queries):
        date = make_date()
        client = self.client_for(date)
        reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
        url = f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats"
        seats = client.get(url).json()
        assert len(seats) == 20
        assert set(seats[0]) == {"id", "seat_num", "section", "row", "price", "status"}
        assert [s["status"] for s in seats].count("HELD") == 2
        with django_assert_max_num_queries(2):  # a warm cache: auth only
            available = client.get(url + "?status=AVAILABLE").json()
        assert len(available) == 18 and {s["status"] for s in available} == {"AVAILABLE"}
        assert_error(client.get(url + "?status=SOLD"), 400, "VALIDATION_ERROR")

    def test_a_commit_shows_in_the_next_read(self, django_capture_on_commit_callbacks):
        date = make_date()
        client = self.client_for(date)
        url = f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats?status=HELD"
        assert client.get(url).json() == []  # warms the cache
        with django_capture_on_commit_callbacks(execute=True):
            reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
        assert len(client.get(url).json()) == 1

    def test_a_stale_build_cannot_outlive_an_invalidation(self):
        date = make_date()
        selectors.seat_map(concert_date_id=date.pk)  # version 1 cached
        with transaction.atomic():
            services.mark_seats_held(
                concert_date_id=date.pk, seat_ids=seat_ids(date, 1), held_until=timezone.now() + dt.timedelta(minutes=5)
            )
        selectors.invalidate_seat_map(concert_date_id=date.pk)
        held = [s for s in selectors.seat_map(concert_date_id=date.pk) if s["status"] == "HELD"]
        assert len(held) == 1

    def test_an_expired_hold_reads_available_before_the_sweep(self):
        date = make_date()
        seat = seat_ids(date, 1)
        reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat)
        Seat.objects.filter(pk=seat[0]).update(held_until=timezone.now() - dt.timedelta(seconds=1))
        selectors.invalidate_seat_map(concert_date_id=date.pk)
        by_id = {s["id"]: s["status"] for s in selectors.seat_map(concert_date_id=date.pk)}
        assert by_id[seat[0]] == "AVAILABLE"

    def test_needs_login_token_and_the_right_date(self, api_client):
        date = make_date()
        other = make_date()
        url = f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats"
        assert_error(api_client.get(url), 401, "NOT_AUTHENTICATED")
        assert_error(login_client(UserFactory()).get(url), 403, "QUEUE_TOKEN_REQUIRED")
        assert_error(self.client_for(other).get(url), 403, "QUEUE_TOKEN_REQUIRED")
        mismatched = f"/api/concerts/{other.concert_id}/dates/{date.pk}/seats"
        assert_error(self.client_for(date).get(mismatched), 404, "NOT_FOUND")


class TestAdmin:
    def test_non_staff_cannot_enter(self, client):
        client.force_login(UserFactory())
        assert client.get("/admin/").status_code == 302

    def test_staff_creates_a_date_with_its_seats_and_closes_booking(self, client):
        client.force_login(UserFactory(role="STAFF"))
        concert = make_date().concert
        starts = timezone.now() + dt.timedelta(days=40)
        response = client.post(
            "/admin/concerts/concertdate/add/",
            {
                "concert": concert.pk, "starts_at_0": starts.strftime("%Y-%m-%d"), "starts_at_1": "19:00:00",
                "booking_opens_at_0": timezone.now().strftime("%Y-%m-%d"), "booking_opens_at_1": "00:00:00",
                "booking_open": "on",
            },
        )  # fmt: skip
        assert response.status_code == 302, response.content[:2000]
        new = ConcertDate.objects.filter(concert=concert).order_by("-pk").first()
        assert new.seats.count() == new.total_seats == 20
        assert Inventory.objects.get(concert_date=new).remaining == 20
        client.post("/admin/concerts/concertdate/", {"action": "close_booking", "_selected_action": [new.pk]})
        new.refresh_from_db()
        assert new.booking_open is False

    def test_a_date_with_bookings_cannot_be_deleted(self, client):
        client.force_login(UserFactory(role="STAFF"))
        date = make_date()
        reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
        assert client.get(f"/admin/concerts/concertdate/{date.pk}/delete/").status_code == 403
        client.post(
            "/admin/concerts/concertdate/", {"action": "delete_selected", "_selected_action": [date.pk], "post": "yes"}
        )
        assert ConcertDate.objects.filter(pk=date.pk).exists()
        empty = make_date()
        client.post(f"/admin/concerts/concertdate/{empty.pk}/delete/", {"post": "yes"})
        assert not ConcertDate.objects.filter(pk=empty.pk).exists()

    def test_seat_status_is_read_only_in_the_admin(self, client):
        client.force_login(UserFactory(role="STAFF"))
        date = make_date()
        seat = date.seats.first()
        client.post(f"/admin/concerts/seat/{seat.pk}/change/", {"price": "7.00", "status": "RESERVED"})
        seat.refresh_from_db()
        assert (seat.price, seat.status) == (Decimal("7.00"), "AVAILABLE")


class TestCommands:
    def test_seed_demo_is_idempotent(self):
        call_command("seed_demo")
        counts = (Concert.objects.count(), ConcertDate.objects.count(), Seat.objects.count())
        call_command("seed_demo")
        assert (Concert.objects.count(), ConcertDate.objects.count(), Seat.objects.count()) == counts
        assert counts[0] == 3 and counts[1] == 5
        call_command("check_invariants")

    def test_seed_load_is_resumable(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "250", "--users", "30")
        call_command("seed_load", "--dates", "2", "--seats-per-date", "250", "--users", "40")
        concert = Concert.objects.get(name="Load Test")
        assert concert.dates.count() == 2
        assert Seat.objects.filter(concert_date__concert=concert).count() == 500
        from apps.accounts.models import User

        assert User.objects.filter(email__startswith="load").count() == 40
        call_command("check_invariants")


def test_layout_constant_is_shared():
    assert services.layout_seat_count(LAYOUT) == 20
