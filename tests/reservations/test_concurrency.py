"""Holds under real races on MariaDB (threads on a barrier, real row locks); the races of paying
and cancelling are in tests/payments/test_concurrency.py.

Each test ends with `check_invariants`, which inspects the database as a whole.
"""

import random

import pytest
from django.core.management import call_command

from apps.common.exceptions import ApplicationError
from apps.concerts import seat_map
from apps.concerts.models import Inventory, Seat, inventory_shard_of
from apps.payments.invariants import breaches
from apps.reservations import services
from apps.reservations.models import Reservation, ReservationItem
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import error_codes, remaining_seats, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_200_buyers_race_for_one_seat():
    date = make_date()
    seat = seat_ids(date, 1)
    users = UserFactory.create_batch(200)
    results = run_in_threads(200, lambda i: services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=seat))
    winners = [r for r in results if isinstance(r, Reservation)]
    assert len(winners) == 1
    assert error_codes(results).count("SEAT_UNAVAILABLE") == 199, error_codes(results)
    assert remaining_seats(date) == date.total_seats - 1
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
    unexpected = [c for c in error_codes(results) if c not in ("SEAT_UNAVAILABLE", "SERVICE_UNAVAILABLE")]
    assert not unexpected, unexpected
    held = [r for r in results if isinstance(r, Reservation)]
    assert held
    live_seats = list(ReservationItem.objects.filter(live_seat__isnull=False).values_list("seat_id", flat=True))
    assert len(live_seats) == len(set(live_seats))
    assert remaining_seats(date) == date.total_seats - len(live_seats)
    call_command("check_invariants")


def test_holds_of_many_buyers_on_disjoint_seats_all_succeed_and_count_exactly():
    date = make_date(layout=[{"name": "Floor", "rows": 10, "seats_per_row": 10, "price": "100.00"}])
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
    assert remaining_seats(date) == 100 - 2 * held
    call_command("check_invariants")


def test_no_inventory_shard_goes_below_zero_when_buyers_race_for_all_its_seats():
    """60 buyers at once for the seats of one inventory shard: each seat alone (6 buyers each) and in
    overlapping pairs. The shard ends at exactly 0 with every one of its seats held once; a shard
    asked to go below 0 would fail the request with a database error (remaining is unsigned and
    CHECKed), which this test would see. Without the seat lock in `lock_seats` several buyers pass the
    AVAILABLE check for one seat and the test fails (database errors, seats held twice over)."""
    date = make_date(layout=[{"name": "Floor", "rows": 4, "seats_per_row": 16, "price": "100.00"}])
    ids = seat_ids(date)
    shard = inventory_shard_of(ids[10])
    mine = [seat for seat in ids if inventory_shard_of(seat) == shard]
    wanted = [[seat] for seat in mine for _ in range(6)]
    wanted += [[mine[i], mine[(i + 1) % len(mine)]] for i in range(len(mine))] * 3
    wanted = wanted[:60]
    users = UserFactory.create_batch(len(wanted))

    results = run_in_threads(
        len(wanted), lambda i: services.hold_seats(user=users[i], concert_date_id=date.pk, seat_ids=wanted[i])
    )
    assert set(error_codes(results)) <= {"SEAT_UNAVAILABLE"}, error_codes(results)
    live = list(ReservationItem.objects.filter(live_seat__isnull=False).values_list("seat_id", flat=True))
    assert sorted(live) == sorted(mine)  # each seat of the shard held exactly once
    row = Inventory.objects.get(concert_date=date, shard=shard)
    assert (row.remaining, row.total) == (0, len(mine))
    others = Inventory.objects.filter(concert_date=date).exclude(shard=shard)
    assert all(other.remaining == other.total for other in others)
    call_command("check_invariants")


def test_200_best_available_buyers_for_a_100_seat_section_get_adjacent_seats_once_each():
    """Every buyer reads the same seat status and asks for 2 seats side by side in Floor (10 rows of
    10): they all choose the same first block, the database lets one hold it, and the others choose
    again. Exactly 50 pairs are held, each side by side, no seat twice; the 150 others get
    NOT_ENOUGH_SEATS, never SEAT_UNAVAILABLE. Without the seat lock (`lock_seats`) or the inventory's
    version check, buyers who chose the same block both hold it and this test fails."""
    date = make_date(
        layout=[
            {"name": "VIP", "rows": 1, "seats_per_row": 4, "price": "300.00"},
            {"name": "Floor", "rows": 10, "seats_per_row": 10, "price": "100.00"},
        ]
    )
    users = UserFactory.create_batch(200)
    seat_map.seat_status(concert_date_id=date.pk)  # the status they all start from: every seat free

    results = run_in_threads(
        200,
        lambda i: services.hold_best_available(user=users[i], concert_date_id=date.pk, quantity=2, section="Floor"),
    )
    winners = [r for r in results if isinstance(r, Reservation)]
    assert len(winners) == 50, error_codes(results)
    assert error_codes(results) == ["NOT_ENOUGH_SEATS"] * 150
    items = ReservationItem.objects.filter(live_seat__isnull=False).select_related("seat")
    pairs: dict[int, list[Seat]] = {}
    for item in items:
        pairs.setdefault(item.reservation_id, []).append(item.seat)
    assert sorted(pairs) == sorted(winner.pk for winner in winners)
    for seats in pairs.values():
        (first, second) = sorted(seats, key=lambda seat: seat.seat_num)
        assert (first.section, first.row) == (second.section, second.row) == ("Floor", first.row)
        assert second.seat_num == first.seat_num + 1
    held = [seat.pk for seats in pairs.values() for seat in seats]
    assert len(held) == len(set(held)) == 100
    assert sorted(held) == seat_ids(date)  # every Floor seat, each once
    assert remaining_seats(date) == 4  # VIP untouched

    with pytest.raises(ApplicationError) as refused:
        services.hold_best_available(user=UserFactory(), concert_date_id=date.pk, quantity=2, section="Floor")
    assert refused.value.code == "NOT_ENOUGH_SEATS"
    assert refused.value.details == {"section": "Floor", "quantity": 2, "available": 0, "largest_together": 0}
    assert not any(breaches().values()), breaches()


def test_one_buyers_racing_holds_never_pass_the_seats_per_date_cap(settings):
    """Six holds of 4 seats by one buyer at once, with room for two under MAX_SEATS_PER_BUYER_PER_DATE:
    the user lock serialises them, so the cap read with it is exact. Without that lock (a plain read
    in `lock_user`) several holds read the same count and the buyer ends with more than the cap."""
    settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 10
    settings.MAX_SEATS_PER_BUYER_PER_DATE = 8
    date = make_date(layout=[{"name": "Floor", "rows": 3, "seats_per_row": 10, "price": "100.00"}])
    ids = seat_ids(date)
    user = UserFactory()
    results = run_in_threads(
        6, lambda i: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[4 * i : 4 * i + 4])
    )
    assert sorted(error_codes(results)) == ["HOLD_LIMIT_REACHED"] * 4, results
    held = ReservationItem.objects.filter(reservation__user=user, live_seat__isnull=False).count()
    assert held == 8
    call_command("check_invariants")
