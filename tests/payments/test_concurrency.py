"""Paying and cancelling under real races on MariaDB (threads on a barrier, real row locks).

A payment for the date of the buyer's queue access (as every payment through the API) runs as one call
of the payment procedure; the races run that way and with the same steps from Python (`pay`).
Each test ends with `check_invariants`, which inspects the database as a whole.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models import Sum
from rest_framework.test import APIClient

from apps.accounts.models import User, WalletTransaction
from apps.common.exceptions import ApplicationError
from apps.concerts.models import Seat
from apps.payments import services as payments
from apps.payments.models import Payment
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import (
    admitted_client,
    error_codes,
    fund,
    hold_via_api,
    remaining_seats,
    row_locked_elsewhere,
    run_in_threads,
    wait_for_a_lock_wait,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def payment_path(request, settings):
    settings.PAYMENT_PROCEDURE = request.param == "procedure"
    return request.param


BOTH_PATHS = pytest.mark.parametrize("payment_path", ["procedure", "python"], indirect=True)


def pay(*, user, reservation):
    """Pay as the API does: for the date of the buyer's queue access."""
    return payments.pay_for_reservation(
        user=user, reservation_id=reservation.pk, queue_date_id=reservation.concert_date_id
    )


@BOTH_PATHS
def test_the_same_reservation_paid_from_20_threads_is_paid_once(payment_path):
    date = make_date()
    user = UserFactory()
    fund(user, "1000000.00")
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
    results = run_in_threads(20, lambda i: pay(user=user, reservation=reservation))
    assert len([r for r in results if isinstance(r, tuple)]) == 1
    assert set(error_codes(results)) == {"INVALID_STATE"}, error_codes(results)
    assert Payment.objects.count() == 1
    assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 1
    assert User.objects.get(pk=user.pk).balance == Decimal("1000000.00") - reservation.total_price
    call_command("check_invariants")


def test_one_idempotency_key_sent_from_10_threads_pays_once_and_answers_each_alike():
    """The key's row is the first statement of the payment's transaction: the racers wait on it and
    replay the winner's answer (without it they would wait on the reservation and answer INVALID_STATE)."""
    date, user = make_date(), UserFactory()
    fund(user)
    client = admitted_client(date, user)
    reservation_id = hold_via_api(client, date, seat_ids(date, 2)).json()["id"]

    def pay(i: int):
        racer = APIClient()
        racer.credentials(**client._credentials)
        body = {"reservation_id": reservation_id}
        return racer.post("/api/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="one-key")

    responses = run_in_threads(10, pay)
    assert [getattr(r, "status_code", r) for r in responses] == [201] * 10
    assert len({str(r.json()) for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 9
    assert Payment.objects.count() == 1
    assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 1
    call_command("check_invariants")


@BOTH_PATHS
def test_one_wallet_paying_many_reservations_at_once_never_goes_negative(payment_path):
    user = UserFactory()
    fund(user, "150000.00")  # covers 3 of the 8 single-seat holds below
    # The per-user hold cap is per date, so spread the holds over dates.
    dates = [make_date() for _ in range(8)]
    holds = [reservations.hold_seats(user=user, concert_date_id=d.pk, seat_ids=seat_ids(d, 1)) for d in dates]
    results = run_in_threads(8, lambda i: pay(user=user, reservation=holds[i]))
    assert len([r for r in results if isinstance(r, tuple)]) == 3
    assert error_codes(results).count("INSUFFICIENT_BALANCE") == 5
    assert User.objects.get(pk=user.pk).balance == Decimal("0.00")
    call_command("check_invariants")


@BOTH_PATHS
def test_payment_racing_the_expiry_sweep_is_either_paid_or_expired_never_both(payment_path):
    """20 owners pay while 4 sweeps run with a clock past every hold's expiry: for the sweep each hold
    has expired, for its payer it has not. Whichever locks a reservation first decides its fate."""
    date = make_date(layout=[{"name": "Floor", "rows": 4, "seats_per_row": 10, "price": "1000.00"}])
    ids = seat_ids(date)
    users = UserFactory.create_batch(20)
    for user in users:
        fund(user, "1000.00")
    holds = [reservations.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=[ids[i]]) for i in range(20)]
    sweep_clock = max(h.expires_at for h in holds) + dt.timedelta(seconds=1)

    def act(i: int):
        if i < 20:
            return pay(user=users[i], reservation=holds[i])
        return reservations.release_expired_holds(batch_size=3, now=sweep_clock)

    results = run_in_threads(24, act)  # 20 payers and 4 concurrent sweepers
    assert set(error_codes(results)) <= {"HOLD_EXPIRED"}, error_codes(results)
    reservations.release_expired_holds(now=sweep_clock)
    paid = Reservation.objects.filter(pk__in=[h.pk for h in holds], status="CONFIRMED").count()
    expired = Reservation.objects.filter(pk__in=[h.pk for h in holds], status="EXPIRED").count()
    assert paid + expired == 20
    assert Payment.objects.count() == paid
    spent = -(WalletTransaction.objects.filter(kind="PAYMENT").aggregate(s=Sum("amount"))["s"] or 0)
    assert spent == Decimal("1000.00") * paid
    assert remaining_seats(date) == date.total_seats - paid
    call_command("check_invariants", grace_seconds=0)


def test_sweep_skips_a_hold_whose_payment_is_in_flight(monkeypatch):
    """Deterministic interleaving: the payment has locked the reservation (before its expiry) and is
    paused; the sweep runs with a clock past the expiry. It must not release the hold, and the
    payment commits. (The pause is in the steps run from Python; the procedure races the sweep in
    the test above.)"""
    date = make_date()
    user = UserFactory()
    fund(user)
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    sweep_clock = reservation.expires_at + dt.timedelta(seconds=1)

    locked, resume = threading.Event(), threading.Event()
    real_confirm = reservations.confirm_reservation

    def paused_confirm(**kwargs):
        locked.set()
        assert resume.wait(10)
        return real_confirm(**kwargs)

    monkeypatch.setattr(reservations, "confirm_reservation", paused_confirm)

    def act(i: int):
        if i == 0:
            return payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert locked.wait(10)
        released = reservations.release_expired_holds(now=sweep_clock)  # its payment still in flight
        resume.set()
        return released

    payment_result, released = run_in_threads(2, act)
    assert isinstance(payment_result, tuple), payment_result
    assert released == 0
    reservation.refresh_from_db()
    assert reservation.status == "CONFIRMED"
    assert reservations.release_expired_holds(now=sweep_clock) == 0
    call_command("check_invariants")


@BOTH_PATHS
def test_cancel_racing_payment_settles_one_way(payment_path):
    date = make_date()
    ids = seat_ids(date)
    pairs = []
    for i in range(10):
        user = UserFactory()
        fund(user, "200000.00")
        pairs.append((user, reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=[ids[i]])))

    def act(i: int):
        user, reservation = pairs[i // 2]
        if i % 2:
            return reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        return pay(user=user, reservation=reservation)

    results = run_in_threads(20, act)
    assert set(error_codes(results)) <= {"INVALID_STATE"}, error_codes(results)
    for user, reservation in pairs:
        reservation.refresh_from_db()
        user.refresh_from_db()
        # Cancelled after payment → refunded; cancelled before → never charged. Either way the
        # wallet is whole unless the booking stands.
        if reservation.status == "CONFIRMED":
            assert user.balance == Decimal("200000.00") - reservation.total_price
        else:
            assert reservation.status == "CANCELLED"
            assert user.balance == Decimal("200000.00")
    call_command("check_invariants")


@BOTH_PATHS
def test_a_payment_waiting_for_the_wallet_keeps_its_hold_from_being_cancelled_and_its_seats_held_again(
    payment_path,
):
    """The payment locks the reservation first and keeps it while it waits for the wallet's lock. Without
    that lock a cancel would end the hold meanwhile and another buyer hold the same seats, and the
    payment, still believing the reservation HELD, would confirm it on seats that buyer holds."""
    date = make_date()
    buyer, rival = UserFactory(), UserFactory()
    fund(buyer, "1000000.00")
    seats = seat_ids(date, 2)
    reservation = reservations.hold_seats(user=buyer, concert_date_id=date.pk, seat_ids=seats)
    results: dict[str, object] = {}

    def outcome(name: str, act) -> None:
        try:
            results[name] = act()
        except ApplicationError as exc:
            results[name] = exc.code
        finally:
            connections.close_all()

    def cancel_and_hold_again() -> None:
        outcome("cancel", lambda: reservations.cancel_reservation(user=buyer, reservation_id=reservation.pk))
        outcome("rival", lambda: reservations.hold_seats(user=rival, concert_date_id=date.pk, seat_ids=seats))

    payer = threading.Thread(target=outcome, args=("payment", lambda: pay(user=buyer, reservation=reservation)))
    canceller = threading.Thread(target=cancel_and_hold_again)
    with row_locked_elsewhere("users", buyer.pk):  # the wallet
        payer.start()
        wait_for_a_lock_wait()  # the payment waits for the wallet
        canceller.start()
        # With the reservation locked by the payment, the cancel waits too; without, it ends, and the rival holds.
        wait_for_a_lock_wait(2, or_until=lambda: not canceller.is_alive())
    for thread in (payer, canceller):
        thread.join(30)

    reservation.refresh_from_db()
    assert isinstance(results["payment"], tuple), results  # paid: the cancel came after it
    assert reservation.status == "CANCELLED"  # ... and refunded it
    assert isinstance(results["rival"], Reservation)  # the seats were free again only then
    assert Reservation.objects.get(pk=results["rival"].pk).status == "HELD"
    assert sorted(Seat.objects.filter(pk__in=seats).values_list("status", flat=True)) == ["HELD", "HELD"]
    buyer.refresh_from_db()
    assert buyer.balance == Decimal("1000000.00")
    call_command("check_invariants")
