"""Staff run the catalogue in the admin; nothing there can break an invariant."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from apps.concerts import services
from apps.concerts.models import Concert, ConcertDate, Inventory, Seat, Venue
from apps.reservations import services as reservations
from tests.factories import LAYOUT, ConcertFactory, UserFactory, make_date, seat_ids
from tests.helpers import remaining_seats

pytestmark = pytest.mark.django_db


def hold(date, ids):
    with transaction.atomic():
        services.mark_seats_held(
            concert_date_id=date.pk, seat_ids=ids, held_until=timezone.now() + dt.timedelta(minutes=5)
        )


def date_form(concert, starts, opens, open_flag=True):
    data = {
        "concert": concert.pk, "starts_at_0": starts.strftime("%Y-%m-%d"), "starts_at_1": starts.strftime("%H:%M:%S"),
        "booking_opens_at_0": opens.strftime("%Y-%m-%d"), "booking_opens_at_1": opens.strftime("%H:%M:%S"),
    }  # fmt: skip
    if open_flag:
        data["booking_open"] = "on"
    return data


class TestAccess:
    def test_anonymous_and_buyers_are_sent_to_the_login(self, client):
        assert client.get("/admin/").status_code == 302
        client.force_login(UserFactory())
        response = client.get("/admin/concerts/concertdate/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    def test_staff_see_every_catalogue_page(self, staff):
        date = make_date()
        seat = date.seats.first()
        pages = [
            "/admin/", "/admin/concerts/venue/", "/admin/concerts/concert/", "/admin/concerts/concertdate/",
            "/admin/concerts/seat/", "/admin/concerts/inventory/", "/admin/concerts/venue/add/",
            "/admin/concerts/concertdate/add/", f"/admin/concerts/concert/{date.concert_id}/change/",
            f"/admin/concerts/concertdate/{date.pk}/change/", f"/admin/concerts/seat/{seat.pk}/change/",
            "/admin/concerts/concert/?q=Tour", "/admin/concerts/concertdate/?booking_open__exact=1",
            "/admin/concerts/seat/?status__exact=AVAILABLE&q=Floor",
        ]  # fmt: skip
        for page in pages:
            assert staff.get(page).status_code == 200, page

    def test_list_pages_do_not_query_per_row(self, staff, django_assert_max_num_queries):
        concert = ConcertFactory()
        for day in range(12):
            make_date(concert=concert, starts_in=dt.timedelta(days=day + 1))
        staff.get("/admin/concerts/concertdate/")  # session and content types warmed
        with django_assert_max_num_queries(12):
            assert staff.get("/admin/concerts/concertdate/").status_code == 200
        with django_assert_max_num_queries(12):
            assert staff.get("/admin/concerts/seat/").status_code == 200


class TestVenues:
    def test_a_venue_layout_is_validated_and_counted(self, staff):
        import json

        response = staff.post("/admin/concerts/venue/add/", {"name": "Blue Square", "address": "Seoul",
                                                             "layout": json.dumps(LAYOUT)})  # fmt: skip
        assert response.status_code == 302
        assert Venue.objects.get(name="Blue Square").seat_count == 20
        bad = staff.post("/admin/concerts/venue/add/", {"name": "Bad", "address": "", "layout": "[]"})
        assert bad.status_code == 200 and not Venue.objects.filter(name="Bad").exists()


class TestDates:
    def test_adding_a_date_creates_its_seats_and_inventory(self, staff):
        concert = ConcertFactory()
        starts = (timezone.now() + dt.timedelta(days=40)).replace(microsecond=0)
        response = staff.post("/admin/concerts/concertdate/add/", date_form(concert, starts, timezone.now()))
        assert response.status_code == 302
        date = ConcertDate.objects.get(concert=concert)
        assert date.seats.count() == date.total_seats == 20 and date.booking_open is True
        assert remaining_seats(date) == 20

    def test_a_date_added_closed_stays_closed(self, staff):
        concert = ConcertFactory()
        starts = timezone.now() + dt.timedelta(days=40)
        staff.post("/admin/concerts/concertdate/add/", date_form(concert, starts, timezone.now(), open_flag=False))
        date = ConcertDate.objects.get(concert=concert)
        assert date.booking_open is False and date.seats.count() == 20

    def test_booking_must_open_before_the_show(self, staff):
        concert = ConcertFactory()
        starts = timezone.now() + dt.timedelta(days=2)
        response = staff.post(
            "/admin/concerts/concertdate/add/", date_form(concert, starts, starts + dt.timedelta(days=1))
        )
        assert response.status_code == 200 and b"Booking must open before the show starts" in response.content
        assert not ConcertDate.objects.filter(concert=concert).exists()

    def test_open_and_close_booking_actions(self, staff):
        first, second = make_date(), make_date()
        staff.post(
            "/admin/concerts/concertdate/", {"action": "close_booking", "_selected_action": [first.pk, second.pk]}
        )
        assert set(ConcertDate.objects.filter(pk__in=[first.pk, second.pk]).values_list("booking_open", flat=True)) == {
            False
        }
        staff.post("/admin/concerts/concertdate/", {"action": "open_booking", "_selected_action": [first.pk]})
        assert ConcertDate.objects.get(pk=first.pk).booking_open is True
        assert ConcertDate.objects.get(pk=second.pk).booking_open is False

    def test_total_seats_and_concert_are_read_only_once_created(self, staff):
        date = make_date()
        other = ConcertFactory()
        data = date_form(other, date.starts_at, date.booking_opens_at, open_flag=False)
        data["total_seats"] = "999"
        assert staff.post(f"/admin/concerts/concertdate/{date.pk}/change/", data).status_code == 302
        date.refresh_from_db()
        assert (date.concert_id, date.total_seats, date.booking_open) != (other.pk, 999, True)
        assert date.booking_open is False and date.total_seats == 20

    def test_a_date_with_held_seats_cannot_be_deleted(self, staff):
        date = make_date()
        hold(date, seat_ids(date, 1))
        page = staff.get(f"/admin/concerts/concertdate/{date.pk}/delete/")
        assert page.status_code == 200 and b"seats are held or reserved" in page.content
        staff.post(f"/admin/concerts/concertdate/{date.pk}/delete/", {"post": "yes"})
        response = staff.post(
            "/admin/concerts/concertdate/",
            {"action": "delete_selected", "_selected_action": [date.pk], "post": "yes"},
            follow=True,
        )
        assert ConcertDate.objects.filter(pk=date.pk).exists() and Seat.objects.filter(concert_date=date).count() == 20
        assert b"Cannot delete" in response.content and b"seats are held or reserved" in response.content

    def test_a_date_ever_booked_cannot_be_deleted(self, staff):
        date = make_date()
        user = UserFactory()
        reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
        reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert not Seat.objects.filter(concert_date=date).exclude(status="AVAILABLE").exists()
        response = staff.post(f"/admin/concerts/concertdate/{date.pk}/delete/", {"post": "yes"})
        assert response.status_code == 200 and b"Cannot delete concert date" in response.content
        assert ConcertDate.objects.filter(pk=date.pk).exists()

    def test_the_service_refuses_a_hold_that_landed_after_the_page(self):
        date = make_date()
        hold(date, seat_ids(date, 1))
        with pytest.raises(services.Conflict) as caught:
            services.delete_concert_date(concert_date_id=date.pk)
        assert caught.value.code == "INVALID_STATE" and ConcertDate.objects.filter(pk=date.pk).exists()
        with pytest.raises(services.NotFound):
            services.delete_concert_date(concert_date_id=987654321)

    def test_a_date_without_bookings_is_deleted_with_its_seats(self, staff):
        date = make_date()
        staff.post(f"/admin/concerts/concertdate/{date.pk}/delete/", {"post": "yes"})
        assert not ConcertDate.objects.filter(pk=date.pk).exists()
        assert not Seat.objects.filter(concert_date_id=date.pk).exists()
        assert not Inventory.objects.filter(concert_date_id=date.pk).exists()

    def test_a_concert_with_dates_cannot_be_deleted(self, staff):
        date = make_date()
        hold(date, seat_ids(date, 1))
        page = staff.get(f"/admin/concerts/concert/{date.concert_id}/delete/")
        assert page.status_code == 200 and b"Cannot delete concert" in page.content
        staff.post("/admin/concerts/concert/", {"action": "delete_selected", "_selected_action": [date.concert_id],
                                               "post": "yes"})  # fmt: skip
        assert Concert.objects.filter(pk=date.concert_id).exists()


class TestSeatsAndInventory:
    def test_seat_price_is_editable_while_available_and_status_never(self, staff):
        date = make_date()
        seat = date.seats.first()
        staff.post(f"/admin/concerts/seat/{seat.pk}/change/", {"price": "7.00", "status": "RESERVED"})
        seat.refresh_from_db()
        assert (seat.price, seat.status) == (Decimal("7.00"), "AVAILABLE")

    def test_a_held_seat_keeps_its_price(self, staff):
        date = make_date()
        target = seat_ids(date, 1)[0]
        hold(date, [target])
        response = staff.post(f"/admin/concerts/seat/{target}/change/", {"price": "7.00"})
        assert response.status_code == 200 and b"cannot change" in response.content
        assert Seat.objects.get(pk=target).price == Decimal("50000.00")

    def test_a_negative_price_is_refused(self, staff):
        seat = make_date().seats.first()
        assert staff.post(f"/admin/concerts/seat/{seat.pk}/change/", {"price": "-1.00"}).status_code == 200
        assert Seat.objects.get(pk=seat.pk).price == Decimal("150000.00")

    def test_seats_cannot_be_added_or_deleted(self, staff):
        seat = make_date().seats.first()
        assert staff.get("/admin/concerts/seat/add/").status_code == 403
        assert staff.get(f"/admin/concerts/seat/{seat.pk}/delete/").status_code == 403

    def test_inventory_is_read_only(self, staff):
        date = make_date()
        inventory = Inventory.objects.filter(concert_date=date, total__gt=0).first()
        total = inventory.total
        assert staff.get(f"/admin/concerts/inventory/{inventory.pk}/change/").status_code == 200  # view only
        staff.post(f"/admin/concerts/inventory/{inventory.pk}/change/", {"remaining": "3", "total": "3"})
        assert staff.get("/admin/concerts/inventory/add/").status_code == 403
        assert staff.get(f"/admin/concerts/inventory/{inventory.pk}/delete/").status_code == 403
        inventory.refresh_from_db()
        assert (inventory.total, inventory.remaining) == (total, total)
