"""ReservationSerializer builds its dict directly: the same JSON, byte for byte, and the same queries
as ModelSerializer's generic rendering of the same fields, for reservations in every status."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from apps.payments import services as payments
from apps.reservations import selectors, services
from apps.reservations.models import Reservation, ReservationItem, ReservationStatus
from apps.reservations.serializers import ReservationSeatSerializer, ReservationSerializer
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import fund, hold_via_api

pytestmark = pytest.mark.django_db


def generic(obj, *, many=False):
    """What ModelSerializer renders from the declared fields (the serializers without their own
    `to_representation`), and the queries it ran."""
    with pytest.MonkeyPatch.context() as patch:
        for cls in (ReservationSerializer, ReservationSeatSerializer):
            patch.setattr(cls, "to_representation", serializers.ModelSerializer.to_representation)
        with CaptureQueriesContext(connection) as queries:
            data = ReservationSerializer(obj, many=many).data
    return data, [query["sql"] for query in queries.captured_queries]


def fast(obj, *, many=False):
    with CaptureQueriesContext(connection) as queries:
        data = ReservationSerializer(obj, many=many).data
    return data, [query["sql"] for query in queries.captured_queries]


def assert_same(make, *, many=False):
    """Rendered twice from fresh objects (`make()`), so each side reads what it reads."""
    (expected, expected_queries), (got, got_queries) = generic(make(), many=many), fast(make(), many=many)
    assert got == expected
    assert JSONRenderer().render(got) == JSONRenderer().render(expected)
    assert got_queries == expected_queries
    return got


def read(reservation):
    return selectors.get_reservation(user=reservation.user, reservation_id=reservation.pk)


@pytest.fixture
def date():
    return make_date()


def hold(date, seats, user=None):
    user = user or UserFactory()
    fund(user)
    return services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seats)


SEATINGS = {
    "one seat": lambda date: seat_ids(date)[:1],
    "side by side": lambda date: seat_ids(date)[2:5],
    "a gap": lambda date: [seat_ids(date)[0], seat_ids(date)[2]],
    "two rows": lambda date: seat_ids(date)[7:9],  # the last of row A and the first of row B
    "two sections": lambda date: [seat_ids(date, section="VIP")[0], seat_ids(date)[0]],
}


@pytest.mark.parametrize("seating", list(SEATINGS))
def test_a_hold_as_the_service_returns_it_and_as_read_back(date, seating):
    held = hold(date, SEATINGS[seating](date))
    body = assert_same(lambda: held)  # the hold's 201: items and seats in memory, no query
    assert body["status"] == "HELD" and body["reserved_at"] is None
    assert body["together"] is (seating in ("one seat", "side by side"))
    assert_same(lambda: read(held))
    assert_same(lambda: Reservation.objects.get(pk=held.pk))  # nothing prefetched: the items read twice


def test_every_status(date):
    ids = seat_ids(date)
    confirmed = hold(date, ids[:2])
    payments.pay_for_reservation(user=confirmed.user, reservation_id=confirmed.pk)
    cancelled = hold(date, ids[2:3])
    services.cancel_reservation(user=cancelled.user, reservation_id=cancelled.pk)
    refunded = hold(date, ids[3:5])
    payments.pay_for_reservation(user=refunded.user, reservation_id=refunded.pk)
    services.cancel_reservation(user=refunded.user, reservation_id=refunded.pk)
    lapsed = hold(date, ids[5:6])  # past expires_at, not swept yet: shown EXPIRED
    Reservation.objects.filter(pk=lapsed.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    swept = hold(date, ids[6:8])
    Reservation.objects.filter(pk=swept.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    services.release_expired_holds(reservation_ids=[swept.pk])
    statuses = {}
    for reservation in (confirmed, cancelled, refunded, lapsed, swept):
        body = assert_same(lambda reservation=reservation: read(reservation))
        statuses[reservation.pk] = (body["status"], body["reserved_at"] is None)
    assert list(statuses.values()) == [
        ("CONFIRMED", False), ("CANCELLED", True), ("CANCELLED", False), ("EXPIRED", True), ("EXPIRED", True)
    ]  # fmt: skip
    assert Reservation.objects.get(pk=lapsed.pk).status == ReservationStatus.HELD
    items = ReservationItem.objects.select_related("seat").order_by("seat__seat_num")
    every = Reservation.objects.filter(concert_date=date).prefetch_related(Prefetch("items", queryset=items))
    assert_same(lambda: list(every.all()), many=True)  # as the list endpoint renders a page


def test_the_formats_of_odd_values(date):
    """Whole-second and other-zone moments, prices with other exponents, and no items at all."""
    held = hold(date, seat_ids(date)[:2])
    whole = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    Reservation.objects.filter(pk=held.pk).update(
        total_price=Decimal("0"), created_at=whole, expires_at=whole + dt.timedelta(microseconds=1), reserved_at=whole
    )
    ReservationItem.objects.filter(reservation=held).update(price=Decimal("12.3"))
    assert_same(lambda: read(held))
    in_seoul = whole.astimezone(dt.timezone(dt.timedelta(hours=9)))
    price = Decimal("1E+2")

    def in_memory():
        reservation = read(held)
        reservation.created_at, reservation.total_price = in_seoul, price
        for item in reservation.items.all():
            item.price = Decimal("7.005")  # rounded as DRF rounds
        return reservation

    body = assert_same(in_memory)
    assert (body["created_at"], body["total_price"]) == ("2030-01-02T03:04:05Z", "100.00")
    ReservationItem.objects.filter(reservation=held).delete()
    body = assert_same(lambda: read(held))
    assert (body["seats"], body["together"]) == ([], False)


def test_the_hold_response_is_the_generic_rendering(buyer, concert_date):
    ids = seat_ids(concert_date)[:3]
    response = hold_via_api(buyer, concert_date, ids)
    assert response.status_code == 201
    (expected, _) = generic(selectors.get_reservation(user=buyer.user, reservation_id=response.json()["id"]))
    assert response.content == JSONRenderer().render(expected)
