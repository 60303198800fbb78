"""Invariants 1, 2, 4, 5 and 7 under real races on MariaDB (threads on a barrier, real row locks).

Each test ends with `check_invariants`, which inspects the database as a whole.
"""

import datetime as dt
import random
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from apps.accounts.models import User, WalletTransaction
from apps.common.exceptions import ApplicationError
from apps.concerts.models import Inventory, Seat
from apps.payments import services as payments
from apps.payments.models import Payment
from apps.reservations import services
from apps.reservations.models import Reservation, ReservationItem
from tests.conftest import run_in_threads
from tests.factories import UserFactory

from .conftest import fund, make_date, seat_ids

pytestmark = pytest.mark.django_db(transaction=True)


def codes(results) -> list[str]:
    return [getattr(r, "code", type(r).__name__) for r in results if isinstance(r, BaseException)]


def test_200_buyers_race_for_one_seat():
    date = make_date()
    seat = seat_ids(date, 1)
    users = UserFactory.create_batch(200)
    results = run_in_threads(200, lambda i: services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=seat))
    winners = [r for r in results if isinstance(r, Reservation)]
    assert len(winners) == 1
    assert codes(results).count("SEAT_UNAVAILABLE") == 199, codes(results)
    assert Inventory.objects.get(concert_date=date).remaining == date.total_seats - 1
    assert Seat.objects.get(pk=seat[0]).status == "HELD"
    call_command("check_invariants")


def test_overlapping_multi_seat_holds_never_share_a_seat():
    date = make_date()
    ids = seat_ids(date)  # 16 floor seats
    users = UserFactory.create_batch(60)
    rng = random.Random(7)
    wanted = []
    for i in range(60):
        start = i % (len(ids) - 2)
        group = ids[start : start + rng.choice([2, 3])]
        wanted.append(group[::-1] if i % 2 else group)  # both orders: lock ordering must not depend on input

    results = run_in_threads(
        60, lambda i: services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=wanted[i])
    )
    unexpected = [c for c in codes(results) if c not in ("SEAT_UNAVAILABLE", "SERVICE_UNAVAILABLE")]
    assert not unexpected, unexpected
    held = [r for r in results if isinstance(r, Reservation)]
    assert held
    live_seats = list(ReservationItem.objects.filter(live_seat__isnull=False).values_list("seat_id", flat=True))
    assert len(live_seats) == len(set(live_seats))
    assert Inventory.objects.get(concert_date=date).remaining == date.total_seats - len(live_seats)
    call_command("check_invariants")


def test_the_same_reservation_paid_from_20_threads_is_paid_once():
    date = make_date()
    user = UserFactory()
    fund(user, "1000000.00")
    reservation = services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
    results = run_in_threads(20, lambda i: payments.pay_for_reservation(user=user, reservation_id=reservation.pk))
    assert len([r for r in results if isinstance(r, tuple)]) == 1
    assert set(codes(results)) == {"INVALID_STATE"}, codes(results)
    assert Payment.objects.count() == 1
    assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 1
    assert User.objects.get(pk=user.pk).balance == Decimal("1000000.00") - reservation.total_price
    call_command("check_invariants")


def test_one_wallet_paying_many_reservations_at_once_never_goes_negative():
    user = UserFactory()
    fund(user, "150000.00")  # covers 3 of the 8 single-seat holds below
    # The per-user hold cap is per date, so spread the holds over dates.
    dates = [make_date() for _ in range(8)]
    holds = [services.hold_seats(user=user, concert_date_id=d.pk, seat_ids=seat_ids(d, 1)) for d in dates]
    results = run_in_threads(8, lambda i: payments.pay_for_reservation(user=user, reservation_id=holds[i].pk))
    assert len([r for r in results if isinstance(r, tuple)]) == 3
    assert codes(results).count("INSUFFICIENT_BALANCE") == 5
    assert User.objects.get(pk=user.pk).balance == Decimal("0.00")
    call_command("check_invariants")


def test_payment_racing_the_expiry_sweep_is_either_paid_or_expired_never_both():
    """Many reservations expire at the moment their owner pays; the sweep runs at the same time."""
    date = make_date(seats_layout=[{"name": "Floor", "rows": 4, "seats_per_row": 10, "price": "1000.00"}])
    ids = seat_ids(date)
    users = UserFactory.create_batch(20)
    for user in users:
        fund(user, "1000.00")
    holds = [services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=[ids[i]]) for i in range(20)]
    expiry = timezone.now() + dt.timedelta(milliseconds=400)
    Reservation.objects.filter(pk__in=[h.pk for h in holds]).update(expires_at=expiry)

    def act(i: int):
        delay = max((expiry - timezone.now()).total_seconds(), 0) + random.uniform(-0.02, 0.02)
        time.sleep(max(delay, 0))
        if i < 20:
            return payments.pay_for_reservation(user=users[i], reservation_id=holds[i].pk)
        return services.release_expired_holds(batch_size=3)

    results = run_in_threads(24, act)  # 20 payers and 4 concurrent sweepers
    assert set(codes(results)) <= {"HOLD_EXPIRED"}, codes(results)
    services.release_expired_holds()
    paid = Reservation.objects.filter(pk__in=[h.pk for h in holds], status="CONFIRMED").count()
    expired = Reservation.objects.filter(pk__in=[h.pk for h in holds], status="EXPIRED").count()
    assert paid + expired == 20
    assert Payment.objects.count() == paid
    spent = -(WalletTransaction.objects.filter(kind="PAYMENT").aggregate(s=Sum("amount"))["s"] or 0)
    assert spent == Decimal("1000.00") * paid
    assert Inventory.objects.get(concert_date=date).remaining == date.total_seats - paid
    call_command("check_invariants", grace_seconds=0)


def test_sweep_skips_a_hold_whose_payment_is_in_flight(monkeypatch):
    """Deterministic interleaving: the payment has locked the reservation (before its expiry) and is
    paused; the hold expires; the sweep runs. The sweep must not release it, and the payment commits."""
    date = make_date()
    user = UserFactory()
    fund(user)
    reservation = services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() + dt.timedelta(seconds=1))

    locked, resume = threading.Event(), threading.Event()
    real_confirm = services.confirm_reservation

    def paused_confirm(**kwargs):
        locked.set()
        assert resume.wait(10)
        return real_confirm(**kwargs)

    monkeypatch.setattr(services, "confirm_reservation", paused_confirm)

    def act(i: int):
        if i == 0:
            return payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert locked.wait(10)
        time.sleep(1.2)  # the hold is now past expires_at, its payment still in flight
        released = services.release_expired_holds()
        resume.set()
        return released

    payment_result, released = run_in_threads(2, act)
    assert isinstance(payment_result, tuple), payment_result
    assert released == 0
    reservation.refresh_from_db()
    assert reservation.status == "CONFIRMED"
    assert services.release_expired_holds() == 0
    call_command("check_invariants")


def test_cancel_racing_payment_settles_one_way():
    date = make_date()
    ids = seat_ids(date)
    pairs = []
    for i in range(10):
        user = UserFactory()
        fund(user, "200000.00")
        pairs.append((user, services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=[ids[i]])))

    def act(i: int):
        user, reservation = pairs[i // 2]
        if i % 2:
            return services.cancel_reservation(user=user, reservation_id=reservation.pk)
        return payments.pay_for_reservation(user=user, reservation_id=reservation.pk)

    results = run_in_threads(20, act)
    assert set(codes(results)) <= {"INVALID_STATE"}, codes(results)
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


def test_holds_of_many_buyers_on_disjoint_seats_all_succeed_and_count_exactly():
    date = make_date(seats_layout=[{"name": "Floor", "rows": 10, "seats_per_row": 10, "price": "100.00"}])
    ids = seat_ids(date)
    users = UserFactory.create_batch(50)
    results = run_in_threads(
        50, lambda i: services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=ids[2 * i : 2 * i + 2])
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    # Lock-wait pile-ups may answer 503 (retried first); nothing else is acceptable.
    assert all(isinstance(f, ApplicationError) and f.code == "SERVICE_UNAVAILABLE" for f in failures), failures
    held = Reservation.objects.filter(status="HELD").count()
    assert held == 50 - len(failures)
    assert Inventory.objects.get(concert_date=date).remaining == 100 - 2 * held
    call_command("check_invariants")
