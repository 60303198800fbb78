"""The stored seat map: layout and status rendered once per version, a new status after every
committed seat change, expiry read at `held_until` without a sweep, the safety net, and Redis
failures that never fail a committed change nor serve a stale map."""

import datetime as dt
import gzip
import json
import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.common.exceptions import UNAVAILABLE_EXCEPTIONS
from apps.common.models import OutboxEvent
from apps.common.redis import get_redis
from apps.concerts import seat_map, selectors, services
from apps.concerts.models import ConcertDate, Seat, SeatStatus
from tests.factories import make_date, seat_ids
from tests.helpers import mark_held, redis_unreachable, reserve_seats

pytestmark = pytest.mark.django_db


def status(date) -> seat_map.Status:
    return seat_map.seat_status(concert_date_id=date.pk)


def codes(date) -> str:
    return status(date).codes


def layout(date) -> dict:
    facts = selectors.date_facts(date.pk)
    return json.loads(seat_map.seat_layout(concert_date_id=date.pk, layout_version=facts.layout_version).rendered.body)


def position(date, seat_id: int) -> int:
    return Seat.objects.get(pk=seat_id).seat_num - 1


# --- The layout --------------------------------------------------------------------------------------


def test_the_layout_lists_sections_rows_and_seat_pairs_in_seat_order(concert_date):
    body = layout(concert_date)
    seats = {seat.seat_num: seat.pk for seat in concert_date.seats.all()}
    assert body["concert_date_id"] == concert_date.pk and body["layout_version"] == 1
    assert [(s["name"], s["price"], s["seat_prices"]) for s in body["sections"]] == [
        ("VIP", "150000.00", {}),
        ("Floor", "50000.00", {}),
    ]
    vip, floor = body["sections"]
    assert vip["rows"] == [{"row": "A", "seats": [[seats[n], n] for n in range(1, 5)]}]
    assert [row["row"] for row in floor["rows"]] == ["A", "B"]
    assert floor["rows"][1]["seats"] == [[seats[n], n] for n in range(13, 21)]


def test_a_price_change_bumps_the_layout_version_and_shows_in_the_layout(
    concert_date, django_capture_on_commit_callbacks
):
    assert layout(concert_date)["layout_version"] == 1
    target = seat_ids(concert_date, 1)[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.set_seat_price(seat_id=target, price=Decimal("45000.00"))
    concert_date.refresh_from_db()
    assert concert_date.layout_version == 2
    body = layout(concert_date)  # this process forgot the date's facts on commit
    assert body["layout_version"] == 2
    assert body["sections"][1]["price"] == "50000.00"  # most Floor seats keep the section price
    assert body["sections"][1]["seat_prices"] == {str(target): "45000.00"}
    assert status(concert_date).layout_version == 2  # the status names the layout it follows


def test_a_refused_price_change_leaves_the_layout_version(concert_date):
    target = seat_ids(concert_date, 1)
    mark_held(concert_date, target)
    with pytest.raises(services.Conflict):
        services.set_seat_price(seat_id=target[0], price=Decimal("1.00"))
    assert ConcertDate.objects.get(pk=concert_date.pk).layout_version == 1


def test_a_layout_is_built_once_per_version(concert_date, django_assert_num_queries):
    selectors.date_facts(concert_date.pk)
    with django_assert_num_queries(1):
        first = layout(concert_date)
    with django_assert_num_queries(0):
        assert layout(concert_date) == first
    seat_map.forget_local_copies()  # another process: from Redis, still no query
    with django_assert_num_queries(0):
        assert layout(concert_date) == first


def test_the_layout_is_answered_from_the_database_when_redis_is_down(concert_date, cache_unreachable):
    selectors.date_facts(concert_date.pk)
    with cache_unreachable:
        body = layout(concert_date)
    assert sum(len(row["seats"]) for section in body["sections"] for row in section["rows"]) == 20


# --- The status --------------------------------------------------------------------------------------


def test_the_status_has_one_code_per_seat_in_layout_order(concert_date):
    held, reserved = seat_ids(concert_date, 2)
    mark_held(concert_date, [held, reserved])
    with transaction.atomic():
        reserve_seats(concert_date_id=concert_date.pk, seat_ids=[reserved])
    current = status(concert_date)
    expected = ["A"] * 20
    expected[position(concert_date, held)], expected[position(concert_date, reserved)] = "H", "R"
    assert current.codes == "".join(expected)
    assert json.loads(current.rendered.body) == {
        "concert_date_id": concert_date.pk, "layout_version": 1, "version": current.version, "codes": current.codes,
    }  # fmt: skip
    assert 0 < current.version < 2**53  # exact as a JavaScript number


def test_the_stored_bytes_carry_their_gzip_and_a_strong_etag(concert_date):
    rendered = status(concert_date).rendered
    assert gzip.decompress(rendered.gzipped) == rendered.body
    assert rendered.etag.startswith('"') and not rendered.etag.startswith("W/")
    assert rendered.gzip_etag != rendered.etag
    seat_map.forget_local_copies()  # another process, the same stored render: the same validator
    assert status(concert_date).rendered == rendered


def test_a_warm_status_is_read_without_the_database(concert_date, django_assert_num_queries):
    with django_assert_num_queries(3):  # layout_version, the letters, the held seats
        first = status(concert_date)
    with django_assert_num_queries(0):
        assert status(concert_date) is first  # this process's copy: no rendering, no Redis value read
    seat_map.forget_local_copies()
    with django_assert_num_queries(0):
        assert status(concert_date).rendered == first.rendered  # from Redis


def test_a_committed_change_shows_in_the_next_read_with_a_new_version(concert_date, django_capture_on_commit_callbacks):
    target = seat_ids(concert_date, 2)
    before = status(concert_date)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        mark_held(concert_date, target)
    assert len(callbacks) == 2  # the seat map's effect, and the seat counts' delta
    held = status(concert_date)
    assert held.version > before.version and held.rendered.etag != before.rendered.etag
    assert [held.codes[position(concert_date, pk)] for pk in target] == ["H", "H"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        reserve_seats(concert_date_id=concert_date.pk, seat_ids=target[:1])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.release_seats(concert_date_id=concert_date.pk, seat_ids=target[1:])
    after = status(concert_date)
    assert after.version == held.version + 2
    assert [after.codes[position(concert_date, pk)] for pk in target] == ["R", "A"]


def test_a_rolled_back_hold_sends_nothing(concert_date, django_capture_on_commit_callbacks):
    version = seat_map.current_version(concert_date.pk)

    def hold_then_fail() -> None:
        with transaction.atomic():
            mark_held(concert_date, seat_ids(concert_date, 1))
            raise RuntimeError("payment failed")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        hold_then_fail()
    assert callbacks == [] and not OutboxEvent.objects.exists()
    assert seat_map.current_version(concert_date.pk) == version
    assert set(codes(concert_date)) == {"A"}


@pytest.mark.django_db(transaction=True)
def test_a_real_commit_renders_the_status_again():
    date = make_date()
    target = seat_ids(date, 1)
    assert codes(date)[position(date, target[0])] == "A"
    mark_held(date, target)  # a real COMMIT runs the on_commit hook
    assert codes(date)[position(date, target[0])] == "H"


def test_only_the_changed_date_is_rebuilt(concert_date, django_capture_on_commit_callbacks, django_assert_num_queries):
    other = make_date(concert=concert_date.concert)
    status(other)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, seat_ids(concert_date, 1))
    with django_assert_num_queries(0):
        status(other)


def test_a_hold_reads_available_the_moment_it_ends_without_a_sweep(concert_date, clock, django_assert_num_queries):
    first, second = seat_ids(concert_date, 2)
    mark_held(concert_date, [first], held_until=timezone.now() + dt.timedelta(seconds=10))
    mark_held(concert_date, [second], held_until=timezone.now() + dt.timedelta(seconds=20))
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
    held = status(concert_date)
    assert (held.codes[position(concert_date, first)], held.codes[position(concert_date, second)]) == ("H", "H")
    assert held.expires_at == pytest.approx(Seat.objects.get(pk=first).held_until.timestamp())
    clock.move(10.5)
    with django_assert_num_queries(0):  # rendered again from the stored holds, not from the rows
        ended = status(concert_date)
    assert (ended.codes[position(concert_date, first)], ended.codes[position(concert_date, second)]) == ("A", "H")
    assert ended.version == held.version and ended.rendered.etag != held.rendered.etag
    assert Seat.objects.get(pk=first).status == SeatStatus.HELD  # nothing swept it
    clock.move(10)
    assert set(codes(concert_date)) == {"A"}


def test_a_hold_that_ended_before_the_build_reads_available(concert_date):
    target = seat_ids(concert_date, 1)
    mark_held(concert_date, target, held_until=timezone.now() - dt.timedelta(seconds=1))
    current = status(concert_date)
    assert set(current.codes) == {"A"} and current.holds == ()


def test_a_build_from_rows_read_before_a_change_is_never_served_after_it(concert_date):
    """A reader builds from old rows; the change commits and bumps the version; the reader then
    stores its render under the version it read, which no later reader asks for."""
    target = seat_ids(concert_date, 1)[0]
    version = seat_map.current_version(concert_date.pk)
    stale = seat_map.queries.build_status(concert_date.pk, version)  # the slow reader's rows
    mark_held(concert_date, [target])
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)  # what the on_commit hook does
    cache.set(seat_map.cache.status_key(concert_date.pk, version), stale)  # the slow reader finishes
    assert codes(concert_date)[position(concert_date, target)] == "H"


def test_a_lost_version_cannot_bring_back_an_old_render(concert_date):
    target = seat_ids(concert_date, 1)[0]
    status(concert_date)  # stored under the first version
    get_redis().delete(seat_map.versions.version_key(concert_date.pk))  # evicted, or Redis restarted without it
    Seat.objects.filter(pk=target).update(status=SeatStatus.RESERVED)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
    assert codes(concert_date)[position(concert_date, target)] == "R"


def test_a_missed_invalidation_is_stale_for_at_most_the_safety_net(concert_date, clock):
    target = seat_ids(concert_date, 1)[0]
    current = status(concert_date)
    ttl = cache.ttl(seat_map.cache.status_key(concert_date.pk, current.version))
    assert 0 < ttl <= settings.SEAT_MAP_TTL_SECONDS
    Seat.objects.filter(pk=target).update(status=SeatStatus.RESERVED)  # committed, but no invalidation
    assert codes(concert_date)[position(concert_date, target)] == "A"
    clock.move(settings.SEAT_MAP_TTL_SECONDS)
    assert codes(concert_date)[position(concert_date, target)] == "R"


def test_redis_failing_at_invalidation_is_logged_not_raised(concert_date, django_capture_on_commit_callbacks, caplog):
    target = seat_ids(concert_date, 1)
    with (
        caplog.at_level(logging.WARNING, logger="apps.common.outbox"),
        redis_unreachable(),  # still down when the on-commit hook runs, as the block closes
        django_capture_on_commit_callbacks(execute=True),
    ):
        mark_held(concert_date, target)  # the commit stands; the hook must not raise
    assert Seat.objects.get(pk=target[0]).status == SeatStatus.HELD
    assert any("failed after commit; the relay runs it" in r.getMessage() for r in caplog.records)
    assert OutboxEvent.objects.get().kind == "concerts.seat_map_changed"  # owed still: the relay drops it


def test_the_status_is_never_served_without_its_version(concert_date):
    """Without Redis there is no version to check a copy against: the read fails (503 at the API)
    rather than serve this process's copy, which may be stale."""
    status(concert_date)
    with redis_unreachable(), pytest.raises(UNAVAILABLE_EXCEPTIONS):
        status(concert_date)


def test_the_render_store_down_alone_serves_fresh_renders_from_the_database(
    concert_date, cache_unreachable, django_capture_on_commit_callbacks
):
    target = seat_ids(concert_date, 1)
    status(concert_date)
    with cache_unreachable:
        with django_capture_on_commit_callbacks(execute=True):
            mark_held(concert_date, target)  # the version still moves (plain Redis client)
        assert codes(concert_date)[position(concert_date, target[0])] == "H"


# --- The seat list -----------------------------------------------------------------------------------


def seat_list(date, wanted=None) -> list[dict]:
    return json.loads(seat_map.seat_list(concert_date_id=date.pk, status=wanted).body)


def test_the_seat_list_is_rendered_from_the_layout_and_the_status(concert_date, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.set_seat_price(seat_id=seat_ids(concert_date, 1)[0], price=Decimal("1.50"))
    held, reserved = seat_ids(concert_date, 3)[1:]
    mark_held(concert_date, [held, reserved])
    with transaction.atomic():
        reserve_seats(concert_date_id=concert_date.pk, seat_ids=[reserved])
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
    expected = [
        {"id": s.pk, "seat_num": s.seat_num, "section": s.section, "row": s.row, "price": f"{s.price:.2f}",
         "status": s.status}
        for s in Seat.objects.filter(concert_date=concert_date).order_by("seat_num")
    ]  # fmt: skip
    assert seat_list(concert_date) == expected
    assert [s["id"] for s in seat_list(concert_date, "HELD")] == [held]
    assert [s["id"] for s in seat_list(concert_date, "RESERVED")] == [reserved]
    assert len(seat_list(concert_date, "AVAILABLE")) == 18


def test_a_warm_seat_list_is_stored_bytes(concert_date, django_assert_num_queries):
    selectors.date_facts(concert_date.pk)
    with django_assert_num_queries(4):  # the status (3), then the layout (1)
        first = seat_map.seat_list(concert_date_id=concert_date.pk, status="AVAILABLE")
    with django_assert_num_queries(0):
        assert seat_map.seat_list(concert_date_id=concert_date.pk, status="AVAILABLE") is first


def test_the_seat_list_follows_an_ended_hold(concert_date, clock):
    target = seat_ids(concert_date, 1)
    mark_held(concert_date, target, held_until=timezone.now() + dt.timedelta(seconds=5))
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
    assert [s["id"] for s in seat_list(concert_date, "HELD")] == target
    clock.move(6)
    assert seat_list(concert_date, "HELD") == []
    assert target[0] in {s["id"] for s in seat_list(concert_date, "AVAILABLE")}


# --- Patching the last version -------------------------------------------------------------------


def test_a_committed_change_patches_the_last_version_from_its_seats_alone(
    concert_date, django_capture_on_commit_callbacks, django_assert_num_queries
):
    first, second = seat_ids(concert_date, 2)
    before = status(concert_date)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, [first, second])
    with django_assert_num_queries(1):  # the two changed seats, by primary key
        patched = status(concert_date)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.release_seats(concert_date_id=concert_date.pk, seat_ids=[second])
    with django_assert_num_queries(1):
        released = status(concert_date)
    assert patched.version > before.version and released.version > patched.version
    assert (released.codes[position(concert_date, first)], released.codes[position(concert_date, second)]) == (
        "H",
        "A",
    )
    assert [hold[1] for hold in released.holds] == [position(concert_date, first)]
    seat_map.forget_local_copies()
    get_redis().flushdb()  # no log, no stored render: every seat read again, the same answer
    assert status(concert_date).codes == released.codes


def test_a_patched_hold_still_ends_at_held_until(concert_date, clock, django_capture_on_commit_callbacks):
    target = seat_ids(concert_date, 1)
    status(concert_date)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, target, held_until=timezone.now() + dt.timedelta(seconds=5))
    assert codes(concert_date)[position(concert_date, target[0])] == "H"
    clock.move(6)
    assert codes(concert_date)[position(concert_date, target[0])] == "A"


def test_a_change_that_names_no_seats_reads_every_seat(concert_date, django_assert_num_queries):
    status(concert_date)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)  # e.g. a new price
    with django_assert_num_queries(3):
        status(concert_date)


def test_a_log_with_a_gap_reads_every_seat(concert_date, django_assert_num_queries):
    target = seat_ids(concert_date, 1)
    status(concert_date)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=target)
    get_redis().delete(seat_map.versions.changes_key(concert_date.pk))  # trimmed, evicted or lost
    Seat.objects.filter(pk=target[0]).update(status=SeatStatus.RESERVED)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=target)
    at = position(concert_date, target[0])
    with django_assert_num_queries(3):
        assert codes(concert_date)[at] == "R"


def test_the_outbox_event_names_the_changed_seats(concert_date):
    from apps.common.models import OutboxEvent

    target = seat_ids(concert_date, 2)
    mark_held(concert_date, target)
    event = OutboxEvent.objects.filter(kind="concerts.seat_map_changed").latest("pk")
    assert event.payload == {"concert_date_id": concert_date.pk, "seat_ids": sorted(target)}


def test_a_repeated_bump_keeps_the_body_and_its_etag(concert_date, django_capture_on_commit_callbacks):
    target = seat_ids(concert_date, 1)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, target)
    held = status(concert_date)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=target)  # the outbox, again
    again = status(concert_date)
    assert again.version > held.version and again.rendered == held.rendered  # a poller keeps its 304


# --- What a hold reads: the codes alone -----------------------------------------------------------


def test_a_hold_brings_its_copy_forward_without_storing_or_rendering(
    concert_date, django_capture_on_commit_callbacks, django_assert_num_queries
):
    before = status(concert_date)
    target = seat_ids(concert_date, 1)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, target)
    version = seat_map.current_version(concert_date.pk)
    with django_assert_num_queries(1):  # the changed seat, by primary key
        current = seat_map.seat_status(concert_date_id=concert_date.pk, version=version, shared=False)
    assert current.version == version > before.version
    assert current.codes[position(concert_date, target[0])] == "H"
    assert "rendered" not in vars(current)  # no body made for a hold
    assert cache.get(seat_map.cache.status_key(concert_date.pk, version)) is None  # nothing stored
    # A reader that serves the bytes renders them then, the same as a shared read would have.
    shared = status(concert_date)
    assert shared.codes == current.codes
    assert json.loads(shared.rendered.body)["version"] == version


def test_a_hold_without_a_copy_reads_as_everyone_does(concert_date):
    seat_map.forget_local_copies()
    version = seat_map.current_version(concert_date.pk)
    current = seat_map.seat_status(concert_date_id=concert_date.pk, version=version, shared=False)
    assert set(current.codes) == {"A"}
    assert cache.get(seat_map.cache.status_key(concert_date.pk, version)).codes == current.codes  # stored for all


def test_named_seats_no_change_touched_are_read_from_the_copy(
    concert_date, django_capture_on_commit_callbacks, django_assert_num_queries, monkeypatch
):
    first, second, third = seat_ids(concert_date, 3)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, [first])
    copy = status(concert_date)
    with django_capture_on_commit_callbacks(execute=True):
        mark_held(concert_date, [second])
    version = seat_map.current_version(concert_date.pk)
    log_reads = []
    read_log = seat_map.versions.changed_since
    monkeypatch.setattr(
        seat_map.versions, "changed_since", lambda *args, **kw: log_reads.append(args) or read_log(*args, **kw)
    )

    def hold_reads(named: list[int]) -> seat_map.Status:
        return seat_map.seat_status(concert_date_id=concert_date.pk, version=version, shared=False, reading=named)

    with django_assert_num_queries(0):
        answered = hold_reads([first, third])
    assert answered.version == copy.version < version
    assert answered.codes[position(concert_date, first)] == "H" and answered.codes[position(concert_date, third)] == "A"
    # A named seat that changed since the copy: the copy cannot say, and is brought forward by the
    # changes the first read of the log found, remembered (one statement: the changed seat; no log read).
    log_reads.clear()
    with django_assert_num_queries(1):
        answered = hold_reads([second])
    assert answered.version == version and answered.codes[position(concert_date, second)] == "H"
    assert log_reads == []
    # Nor can a log that does not name its seats: every seat is read again.
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
    version = seat_map.current_version(concert_date.pk)
    assert hold_reads([third]).version == version


def test_a_copy_answering_named_seats_reads_only_the_log_it_has_not_read(concert_date, monkeypatch):
    """Named seats that no change touched answer from the process's copy as it is; what the log said is
    remembered, so the next hold reads only the entries after it (not the whole log since the copy,
    which would grow until the copy was rebuilt), and a seat among the remembered changes still patches
    the copy."""
    first, second, third, fourth = seat_ids(concert_date, 4)
    copy = status(concert_date)
    ranges = []
    read_log = seat_map.versions.changed_since
    monkeypatch.setattr(
        seat_map.versions,
        "changed_since",
        lambda date_id, since, version, **kw: (
            ranges.append((since, version)) or read_log(date_id, since, version, **kw)
        ),
    )

    def hold_reads(named: list[int]) -> seat_map.Status:
        version = seat_map.current_version(concert_date.pk)
        return seat_map.seat_status(concert_date_id=concert_date.pk, version=version, shared=False, reading=named)

    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=[first])
    assert hold_reads([fourth]) is copy
    assert seat_map.status_copy_version(concert_date.pk) == copy.version + 1  # the log read so far
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=[second])
    assert hold_reads([fourth]) is copy
    assert ranges == [(copy.version, copy.version + 1), (copy.version + 1, copy.version + 2)]  # one new entry each
    assert hold_reads([fourth]) is copy  # nothing new: no log read
    assert len(ranges) == 2
    Seat.objects.filter(pk=first).update(status="RESERVED")  # the change the first entry announced
    patched = hold_reads([third, first])  # a seat among the remembered changes: the copy is patched
    assert patched.version == copy.version + 2
    assert patched.codes[position(concert_date, first)] == "R"
    assert seat_map.status_copy_version(concert_date.pk) == patched.version


def test_the_change_log_read_beside_the_version_answers_as_its_own_read_would(concert_date):
    """`queue_version_read(since=…)` reads the log after a copy in the caller's round trip; what it
    read names the same seats as a read of its own, a bump after the version's read is left out, and a
    log read after another copy's version is not used."""
    first, second, third = seat_ids(concert_date, 3)
    copy = status(concert_date)
    for seat_id in (first, second):
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=[seat_id])
    pipe = get_redis().pipeline(transaction=False)
    seat_map.queue_version_read(pipe, concert_date.pk, since=copy.version)
    read = seat_map.version_read(concert_date.pk, pipe.execute(), since=copy.version)
    assert read.version == copy.version + 2 == seat_map.current_version(concert_date.pk)
    changed_since = seat_map.versions.changed_since
    assert changed_since(concert_date.pk, copy.version, read.version, read=read) == {first, second}
    assert changed_since(concert_date.pk, copy.version, read.version) == {first, second}
    later = seat_map.VersionRead(
        read.version, read.since, (*read.entries, (f"{read.version + 1}:{third}", float(read.version + 1)))
    )
    assert changed_since(concert_date.pk, copy.version, read.version, read=later) == {first, second}
    # Read after another version than the copy's: not used (the log is read again).
    other = seat_map.VersionRead(read.version, read.since - 1, ())
    assert changed_since(concert_date.pk, copy.version, read.version, read=other) == {first, second}
    # A log that misses an entry cannot say.
    partial = seat_map.VersionRead(read.version, read.since, read.entries[:1])
    assert changed_since(concert_date.pk, copy.version, read.version, read=partial) is None


def test_named_seats_are_not_read_from_a_copy_past_its_freshness(concert_date, clock):
    copy = status(concert_date)
    clock.move(settings.SEAT_MAP_TTL_SECONDS + 1)
    seat_map.invalidate_seat_map(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2)[1:])
    version = seat_map.current_version(concert_date.pk)
    target = seat_ids(concert_date, 1)
    answered = seat_map.seat_status(concert_date_id=concert_date.pk, version=version, shared=False, reading=target)
    assert answered.version == version > copy.version and answered.built_at > copy.built_at
