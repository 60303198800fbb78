"""The cached seat map: rebuilt on a miss, dropped after every committed seat change, never
showing a derived status that went stale, and never failing a committed change when Redis does."""

import datetime as dt
import logging

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted

from apps.concerts import selectors, services
from apps.concerts.models import Seat, SeatStatus
from apps.concerts.signals import seats_changed
from tests.factories import make_date, seat_ids
from tests.helpers import mark_held

pytestmark = pytest.mark.django_db


def statuses(date) -> dict[int, str]:
    return {seat["id"]: seat["status"] for seat in selectors.seat_map(concert_date_id=date.pk)}


def test_the_map_has_every_seat_in_order_with_api_fields(concert_date):
    seats = selectors.seat_map(concert_date_id=concert_date.pk)
    assert [s["seat_num"] for s in seats] == list(range(1, 21))
    assert seats[0] == {
        "id": concert_date.seats.get(seat_num=1).pk, "seat_num": 1, "section": "VIP", "row": "A",
        "price": "150000.00", "status": "AVAILABLE",
    }  # fmt: skip


def test_a_warm_map_is_read_without_the_database(concert_date, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.seat_map(concert_date_id=concert_date.pk)
    with django_assert_num_queries(0):
        assert len(selectors.seat_map(concert_date_id=concert_date.pk)) == 20


def test_a_committed_hold_shows_in_the_next_read(concert_date, django_capture_on_commit_callbacks):
    target = seat_ids(concert_date, 2)
    assert set(statuses(concert_date).values()) == {"AVAILABLE"}  # cached
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        mark_held(concert_date, target)
    assert len(callbacks) == 1
    assert [statuses(concert_date)[pk] for pk in target] == ["HELD", "HELD"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.mark_seats_reserved(concert_date_id=concert_date.pk, seat_ids=target[:1])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.release_seats(concert_date_id=concert_date.pk, seat_ids=target[1:])
    assert [statuses(concert_date)[pk] for pk in target] == ["RESERVED", "AVAILABLE"]


def test_a_rolled_back_hold_sends_nothing(concert_date, django_capture_on_commit_callbacks):
    received = []
    seats_changed.connect(lambda **kw: received.append(kw["concert_date_id"]), weak=False, dispatch_uid="t-rb")
    try:

        def hold_then_fail() -> None:
            with transaction.atomic():
                mark_held(concert_date, seat_ids(concert_date, 1))
                raise RuntimeError("payment failed")

        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
            hold_then_fail()
        assert callbacks == [] and received == []
    finally:
        seats_changed.disconnect(dispatch_uid="t-rb")
    assert set(statuses(concert_date).values()) == {"AVAILABLE"}


@pytest.mark.django_db(transaction=True)
def test_a_real_commit_invalidates_the_map():
    date = make_date()
    target = seat_ids(date, 1)
    assert statuses(date)[target[0]] == "AVAILABLE"
    mark_held(date, target)  # a real COMMIT runs the on_commit hook
    assert statuses(date)[target[0]] == "HELD"


def test_only_the_changed_date_is_rebuilt(concert_date, django_capture_on_commit_callbacks, django_assert_num_queries):
    other = make_date(concert=concert_date.concert)
    selectors.seat_map(concert_date_id=other.pk)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, seat_ids(concert_date, 1))
    with django_assert_num_queries(0):
        selectors.seat_map(concert_date_id=other.pk)


def test_a_hold_expiring_shows_available_without_any_invalidation(concert_date, monkeypatch):
    target = seat_ids(concert_date, 1)[0]
    mark_held(concert_date, [target], held_until=timezone.now() + dt.timedelta(seconds=30))
    selectors.invalidate_seat_map(concert_date_id=concert_date.pk)
    assert statuses(concert_date)[target] == "HELD"  # cached with its held_until
    later = timezone.now() + dt.timedelta(seconds=31)
    monkeypatch.setattr(selectors.timezone, "now", lambda: later)
    assert statuses(concert_date)[target] == "AVAILABLE"  # same cached map, read after the expiry
    assert target in {s["id"] for s in selectors.seat_map(concert_date_id=concert_date.pk, status="AVAILABLE")}
    assert selectors.seat_map(concert_date_id=concert_date.pk, status="HELD") == []


def test_the_status_filter(concert_date):
    held, reserved = seat_ids(concert_date, 2)
    mark_held(concert_date, [held, reserved])
    with transaction.atomic():
        services.mark_seats_reserved(concert_date_id=concert_date.pk, seat_ids=[reserved])
    selectors.invalidate_seat_map(concert_date_id=concert_date.pk)
    by_status = {
        status: [s["id"] for s in selectors.seat_map(concert_date_id=concert_date.pk, status=status)]
        for status in SeatStatus.values
    }
    assert by_status["HELD"] == [held] and by_status["RESERVED"] == [reserved]
    assert len(by_status["AVAILABLE"]) == 18


def test_a_build_from_rows_read_before_a_change_is_never_served_after_it(concert_date):
    """A reader builds from old rows; the change commits and invalidates; the reader then writes its
    map. The version in the key makes that late write invisible."""
    target = seat_ids(concert_date, 1)[0]
    version = cache.get_or_set(selectors._version_key(concert_date.pk), 1, timeout=None)
    stale_rows = selectors._build_seat_map(concert_date.pk)  # the slow reader's rows
    mark_held(concert_date, [target])
    selectors.invalidate_seat_map(concert_date_id=concert_date.pk)  # what the on_commit hook does
    cache.set(selectors._map_key(concert_date.pk, version), stale_rows)  # the slow reader finishes
    assert statuses(concert_date)[target] == "HELD"


def test_a_lost_version_key_cannot_bring_back_an_old_map(concert_date):
    target = seat_ids(concert_date, 1)[0]
    selectors.seat_map(concert_date_id=concert_date.pk)  # map cached under the first version
    cache.delete(selectors._version_key(concert_date.pk))  # evicted, or Redis restarted without it
    Seat.objects.filter(pk=target).update(status=SeatStatus.RESERVED)
    selectors.invalidate_seat_map(concert_date_id=concert_date.pk)
    assert statuses(concert_date)[target] == "RESERVED"


def test_the_cached_map_expires_on_its_own(concert_date):
    selectors.seat_map(concert_date_id=concert_date.pk)
    version = cache.get(selectors._version_key(concert_date.pk))
    ttl = cache.ttl(selectors._map_key(concert_date.pk, version))
    assert 0 < ttl <= selectors.SEAT_MAP_TTL_SECONDS


def test_redis_failing_at_invalidation_is_logged_not_raised(
    concert_date, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def down(*args, **kwargs):
        raise ConnectionInterrupted(connection=None)

    monkeypatch.setattr(selectors.cache, "incr", down)
    target = seat_ids(concert_date, 1)
    with (
        caplog.at_level(logging.ERROR, logger="apps.concerts.receivers"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark_held(concert_date, target)  # the commit stands; the hook must not raise
    assert Seat.objects.get(pk=target[0]).status == SeatStatus.HELD
    assert any("could not invalidate the seat map" in r.getMessage() for r in caplog.records)
