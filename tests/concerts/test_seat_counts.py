"""The waiting room's seat counts: moved after every committed seat change, rebuilt when missing."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.common.redis import get_redis
from apps.concerts import services
from apps.concerts.seat_counts import SeatCounts, count_seats, counts_key, read_or_rebuild
from apps.concerts.services import mark_seats_held, release_seats
from tests.factories import seat_ids
from tests.helpers import reserve_seats

pytestmark = pytest.mark.django_db


def stored(date) -> SeatCounts | None:
    available, held = get_redis().hmget(counts_key(date.pk), "available", "held")
    return None if available is None else SeatCounts(available=int(available), held=int(held))


def test_a_missing_count_is_rebuilt_from_the_database_and_expires(concert_date):
    total = concert_date.seats.count()
    assert stored(concert_date) is None
    assert read_or_rebuild(concert_date_id=concert_date.pk) == SeatCounts(available=total, held=0)
    assert stored(concert_date) == SeatCounts(available=total, held=0)
    assert 0 < get_redis().ttl(counts_key(concert_date.pk)) <= 30


def test_counts_move_with_every_committed_seat_change(concert_date, django_capture_on_commit_callbacks):
    total = concert_date.seats.count()
    read_or_rebuild(concert_date_id=concert_date.pk)
    first, second = seat_ids(concert_date, 3)[:1], seat_ids(concert_date, 3)[1:]
    until = timezone.now() + dt.timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        mark_seats_held(concert_date_id=concert_date.pk, seat_ids=first + second, held_until=until)
    assert stored(concert_date) == SeatCounts(available=total - 3, held=3)
    with django_capture_on_commit_callbacks(execute=True):
        reserve_seats(concert_date_id=concert_date.pk, seat_ids=first)
    assert stored(concert_date) == SeatCounts(available=total - 3, held=2)
    with django_capture_on_commit_callbacks(execute=True):
        release_seats(concert_date_id=concert_date.pk, seat_ids=first + second)  # a refund and a cancel
    assert stored(concert_date) == SeatCounts(available=total, held=0)
    assert count_seats(concert_date_id=concert_date.pk) == stored(concert_date)


def test_a_rolled_back_change_moves_nothing(concert_date, django_capture_on_commit_callbacks):
    read_or_rebuild(concert_date_id=concert_date.pk)
    before = stored(concert_date)
    until = timezone.now() + dt.timedelta(minutes=5)
    with (  # noqa: PT012
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        mark_seats_held(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1), held_until=until)
        raise RuntimeError("rolled back")
    assert stored(concert_date) == before


def test_deltas_without_stored_counts_wait_for_the_rebuild(concert_date, django_capture_on_commit_callbacks):
    """A delta on a missing key would count from zero; the next read rebuilds from the database."""
    until = timezone.now() + dt.timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        mark_seats_held(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2), held_until=until)
    assert stored(concert_date) is None
    assert read_or_rebuild(concert_date_id=concert_date.pk).held == 2


def test_an_expired_hold_counts_as_held_until_it_is_swept(concert_date):
    """Nobody can pay for it any more, but the sweep has not released it: the line keeps waiting."""
    past = timezone.now() - dt.timedelta(seconds=1)
    mark_seats_held(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1), held_until=past)
    counts = count_seats(concert_date_id=concert_date.pk)
    assert (counts.held, counts.sold_out) == (1, False)


def test_a_recount_forgets_the_counts(concert_date, django_capture_on_commit_callbacks):
    read_or_rebuild(concert_date_id=concert_date.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.recount_inventory(concert_date_id=concert_date.pk)
    assert stored(concert_date) is None


def test_sold_out_means_no_free_seat_and_no_hold():
    assert SeatCounts(available=0, held=0).sold_out
    assert not SeatCounts(available=0, held=1).sold_out
    assert not SeatCounts(available=1, held=0).sold_out


def test_a_change_committed_while_a_rebuild_reads_is_not_lost(concert_date, monkeypatch):
    """A hold commits (and applies its delta, which finds no key) after the rebuild read the database
    and before it stores: the rebuild stores nothing, and the next read counts the hold."""
    from apps.concerts import seat_counts

    total = concert_date.seats.count()
    read_database = seat_counts.count_seats

    def a_hold_commits_meanwhile(**kwargs):
        counts = read_database(**kwargs)
        until = timezone.now() + dt.timedelta(minutes=5)
        mark_seats_held(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2), held_until=until)
        seat_counts.seat_count_change(concert_date_id=concert_date.pk, available=-2, held=2).run()  # after commit
        return counts

    monkeypatch.setattr(seat_counts, "count_seats", a_hold_commits_meanwhile)
    assert read_or_rebuild(concert_date_id=concert_date.pk) == SeatCounts(available=total, held=0)  # as read
    assert stored(concert_date) is None  # not kept: a change was applied meanwhile
    monkeypatch.undo()
    assert read_or_rebuild(concert_date_id=concert_date.pk) == SeatCounts(available=total - 2, held=2)
    assert stored(concert_date) == SeatCounts(available=total - 2, held=2)
