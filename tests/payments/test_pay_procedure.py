"""The payment procedure (MariaDB: a payment's transaction in one call, apps.payments.pay_call) beside the
same steps run from Python (PAYMENT_PROCEDURE off, as on SQLite): the same answer and the same rows for
every outcome, and all or nothing on the server. The races run both ways in
tests/payments/test_concurrency.py."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import User, WalletTransaction
from apps.common.exceptions import ApplicationError
from apps.common.models import OutboxEvent
from apps.concerts import services as catalogue
from apps.concerts.models import Seat
from apps.payments import services as payments
from apps.payments.models import Payment
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import fund

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="the payment procedure is MariaDB's"),
]


def state(date, user):
    """What a payment may change, with ids made relative to the date's first seat and the user's row."""
    first = Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True)[0]
    user = User.objects.get(pk=user.pk)
    return (
        str(user.balance),
        list(WalletTransaction.objects.filter(user=user).order_by("pk").values_list("kind", "amount", "balance_after")),
        list(Payment.objects.filter(user=user).values_list("amount", "status")),
        sorted(Reservation.objects.filter(concert_date=date).values_list("status", "total_price")),
        [
            (status, held_until is not None, version)
            for status, held_until, version in Seat.objects.filter(concert_date=date)
            .order_by("pk")
            .values_list("status", "held_until", "version")
        ],
        sorted(
            (event.kind, sorted(i - first for i in event.payload.get("seat_ids", [])))
            for event in OutboxEvent.objects.filter(kind__in=["concerts.seat_map_changed", "payments.completed"])
            if event.payload.get("concert_date_id") == date.pk
        ),
    )


def both_ways(settings, scenario):
    """Run `scenario()` (it sets up a date and returns it, the user and the payment to make) the
    procedure's way and Python's; each run's answer and what it left."""
    runs = []
    for procedure in (True, False):
        settings.PAYMENT_PROCEDURE = procedure
        date, user, pay = scenario()
        try:
            payment, balance = pay()
            stored = Payment.objects.get(pk=payment.pk)
            assert (stored.amount, stored.status, stored.paid_at, stored.reservation_id) == (
                payment.amount,
                payment.status,
                payment.paid_at,
                payment.reservation_id,
            )
            answer = ("paid", str(payment.amount), payment.status, str(balance))
        except ApplicationError as exc:
            answer = ("refused", exc.status_code, exc.code, exc.message, exc.details)
        runs.append((answer, state(date, user)))
    return runs


def held(*, balance="1000000.00", seats=2, layout=None):
    date, user = make_date(layout=layout), UserFactory()
    fund(user, balance)
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, seats))
    return date, user, reservation


def pay(user, reservation, date=None):
    return lambda: payments.pay_for_reservation(
        user=user, reservation_id=reservation.pk, queue_date_id=(date or reservation.concert_date).pk
    )


def test_a_payment_is_made_the_same_way(settings):
    def scenario():
        date, user, reservation = held()
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][0] == "paid"
    assert [kind for kind, _ in procedure[1][5]] == ["concerts.seat_map_changed"] * 2 + ["payments.completed"]


def test_a_free_booking_is_paid_the_same_way(settings):
    free = [{"name": "Floor", "rows": 1, "seats_per_row": 4, "price": "0.00"}]

    def scenario():
        date, user, reservation = held(layout=free)
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1] == "0.00" and [kind for kind, _, _ in procedure[1][1]] == ["CHARGE"]  # no PAYMENT


def test_another_buyers_reservation_is_not_found_the_same_way(settings):
    def scenario():
        date, _owner, reservation = held()
        stranger = UserFactory()
        fund(stranger)
        return date, stranger, pay(stranger, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1:3] == (404, "NOT_FOUND")


def test_a_reservation_of_another_date_than_the_access_is_refused_the_same_way(settings):
    def scenario():
        date, user, reservation = held()
        return date, user, pay(user, reservation, date=make_date())

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1:3] == (403, "QUEUE_TOKEN_REQUIRED")


@pytest.mark.parametrize("swept", [False, True], ids=["not swept yet", "swept"])
def test_an_expired_hold_is_refused_the_same_way(settings, swept):
    def scenario():
        date, user, reservation = held()
        past = timezone.now() - dt.timedelta(seconds=1)
        Reservation.objects.filter(pk=reservation.pk).update(expires_at=past)
        if swept:
            reservations.release_expired_holds()
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][2] == "HOLD_EXPIRED"


def test_a_paid_reservation_is_refused_the_same_way(settings):
    def scenario():
        date, user, reservation = held()
        pay(user, reservation)()
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][2:4] == ("INVALID_STATE", "This reservation is confirmed, not held.")


def test_a_date_whose_booking_closed_is_refused_the_same_way(settings):
    def scenario():
        date, user, reservation = held()
        catalogue.set_booking_open(concert_date_ids=[date.pk], is_open=False)
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][2] == "BOOKING_CLOSED"


def test_an_empty_wallet_is_refused_the_same_way(settings):
    def scenario():
        date, user, reservation = held(balance="10.00")
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][2:] == (
        "INSUFFICIENT_BALANCE",
        "The wallet holds 10.00; 100000.00 is needed.",
        {"balance": "10.00", "required": "100000.00"},
    )


def test_seats_no_longer_held_fail_the_payment_and_leave_everything_as_it_was(settings):
    """One of the two seats is no longer HELD when the payment confirms them: its seat update, the
    first write, finds one row, not two, and nothing of the payment stays (on the server, the
    procedure's own rollback)."""

    def scenario():
        date, user, reservation = held()
        Seat.objects.filter(pk=seat_ids(date, 2)[1]).update(status="RESERVED")
        return date, user, pay(user, reservation)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][2:4] == ("INVALID_STATE", "The seats are no longer held for this reservation.")
    balance, ledger, paid, _, seats, _ = procedure[1]
    assert (balance, ledger[1:], paid) == ("1000000.00", [], [])
    assert sorted(status for status, _, _ in seats if status != "AVAILABLE") == ["HELD", "RESERVED"]


@pytest.mark.parametrize("procedure", [True, False])
def test_inside_a_callers_transaction_a_refusal_is_undone_and_the_transaction_goes_on(settings, procedure):
    settings.PAYMENT_PROCEDURE = procedure
    date, user, reservation = held()
    Seat.objects.filter(pk=seat_ids(date, 2)[1]).update(status="RESERVED")
    other = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 3)[2:])
    with transaction.atomic():
        with pytest.raises(ApplicationError):
            pay(user, reservation)()
        pay(user, other)()
    user.refresh_from_db()
    assert user.balance == Decimal("1000000.00") - other.total_price
    assert list(Payment.objects.values_list("reservation_id", flat=True)) == [other.pk]
    assert Seat.objects.get(pk=seat_ids(date, 2)[0]).status == "HELD"
