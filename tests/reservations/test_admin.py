import pytest

from apps.payments import services as payments
from apps.reservations import services
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import fund

pytestmark = pytest.mark.django_db


def test_staff_see_bookings_and_payments_read_only_with_filters(client):
    date = make_date()
    buyer = UserFactory()
    fund(buyer)
    reservation = services.hold_seats(user=buyer, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    payments.pay_for_reservation(user=buyer, reservation_id=reservation.pk)
    client.force_login(UserFactory(role="STAFF"))

    listing = client.get(f"/admin/reservations/reservation/?status=CONFIRMED&concert_date__id__exact={date.pk}")
    assert listing.status_code == 200
    assert buyer.email.encode() in listing.content
    detail = client.get(f"/admin/reservations/reservation/{reservation.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content  # view only
    assert client.get("/admin/reservations/reservation/add/").status_code == 403
    assert client.post(f"/admin/reservations/reservation/{reservation.pk}/delete/", {"post": "yes"}).status_code == 403

    assert client.get("/admin/payments/payment/?status=PAID").status_code == 200
    assert client.get("/admin/payments/payment/add/").status_code == 403
    assert client.get("/admin/accounts/wallettransaction/").status_code == 200


def test_buyers_cannot_open_the_admin(client):
    client.force_login(UserFactory())
    response = client.get("/admin/reservations/reservation/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
