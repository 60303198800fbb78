"""The hold procedure (MariaDB: a hold's transaction in one call, apps.reservations.hold_call) beside the
same steps run from Python (HOLD_PROCEDURE off, as on SQLite): the same answer and the same rows for
every outcome, all or nothing on the server, and a refusal that locks no seat. The races run against the
procedure in tests/reservations/test_concurrency.py."""

import datetime as dt
import threading

import pytest
from django.db import IntegrityError, OperationalError, connection, connections, transaction
from django.utils import timezone

from apps.common.exceptions import ApplicationError
from apps.common.models import OutboxEvent
from apps.concerts.models import INVENTORY_SHARD_BLOCK, Inventory, Seat, SeatStatus
from apps.reservations import services
from apps.reservations.models import Reservation, ReservationItem
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import remaining_seats, row_locked_elsewhere, seat_statuses, wait_for_a_lock_wait
from tests.reservations.test_round_trips import warm

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="the hold procedure is MariaDB's"),
]

BOTH = pytest.mark.parametrize("procedure", [True, False], ids=["procedure", "python"])


def outcome(hold):
    """What a hold answered (its rendered facts, or its error) and what it left in the database."""
    try:
        reservation = hold()
        answer = (
            "held",
            str(reservation.total_price),
            reservation.status,
            [
                (item.seat_id, str(item.price), item.seat.section, item.seat.row, item.seat.seat_num)
                for item in reservation.items.all()
            ],
        )
        stored = Reservation.objects.get(pk=reservation.pk)
        assert (stored.total_price, stored.expires_at, stored.created_at) == (
            reservation.total_price,
            reservation.expires_at,
            reservation.created_at,
        )
        items = ReservationItem.objects.filter(reservation=stored).order_by("pk")
        assert [(i.pk, i.seat_id, i.live_seat_id, i.price) for i in items] == [
            (i.pk, i.seat_id, i.seat_id, i.price) for i in reservation.items.all()
        ]
    except ApplicationError as exc:
        answer = ("refused", exc.code, exc.message if exc.code != "SEAT_UNAVAILABLE" else "", exc.details)
    return answer


def database_state(date):
    return (
        list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("status", "version")),
        sorted(Inventory.objects.filter(concert_date=date).values_list("remaining", "version")),
        sorted(
            (r.status, str(r.total_price), sorted(r.items.values_list("seat_id", flat=True)))
            for r in Reservation.objects.filter(concert_date=date)
        ),
        sorted(
            (e.kind, sorted(e.payload["seat_ids"]))
            for e in OutboxEvent.objects.all()
            if e.payload.get("concert_date_id") == date.pk
        ),
    )


def relative(state, date):
    """A date's state with its seat ids made relative to its first (two dates compare)."""
    first = Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True)[0]
    seats, shards, reservations, events = state
    return (
        seats,
        shards,
        [(s, p, [i - first for i in ids]) for s, p, ids in reservations],
        [(k, [i - first for i in ids]) for k, ids in events],
    )


def relative_answer(answer, date):
    first = Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True)[0]
    if answer[0] == "held":
        return (*answer[:3], [(seat - first, *rest) for seat, *rest in answer[3]])
    details = answer[3]
    if "seat_ids" in details:
        details = {**details, "seat_ids": [i - first for i in details["seat_ids"]]}
    return (*answer[:3], details)


def both_ways(settings, scenario):
    """Run `scenario(date)` (it returns the hold to compare) on two new dates, the procedure's way and
    Python's, and return both answers and database states, seat ids relative to each date."""
    runs = []
    for procedure in (True, False):
        settings.HOLD_PROCEDURE = procedure
        date = make_date()
        hold = scenario(date)
        answer = outcome(hold)
        runs.append((relative_answer(answer, date), relative(database_state(date), date)))
    return runs


def aligned(date, count: int, *, offset: int) -> list[int]:
    """`count` adjacent seats of the date starting `offset` seats into an inventory shard's block of
    ids, so that both dates compared spread them over the same number of shards."""
    ids = seat_ids(date)
    start = next(i for i, seat in enumerate(ids) if seat % INVENTORY_SHARD_BLOCK == offset)
    return ids[start : start + count]


def test_two_free_seats_are_held_the_same_way(settings):
    def scenario(date):
        user = UserFactory()
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=aligned(date, 2, offset=0))

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][0] == "held" and len(procedure[0][3]) == 2


def test_seats_across_shards_are_held_the_same_way(settings):
    def scenario(date):
        user = UserFactory()
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=aligned(date, 4, offset=2))

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert sum(1 for _, version in procedure[1][1] if version) >= 2  # two shards moved


def test_a_seat_taken_is_refused_the_same_way(settings):
    def scenario(date):
        ids = seat_ids(date, 3)
        services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids[1:2])
        user = UserFactory()
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1] == "SEAT_UNAVAILABLE" and len(procedure[0][3]["seat_ids"]) == 1


def test_a_seat_of_another_date_is_refused_the_same_way(settings):
    def scenario(date):
        other = make_date()
        user = UserFactory()
        return lambda: services.hold_seats(
            user=user, concert_date_id=date.pk, seat_ids=[seat_ids(date, 1)[0], seat_ids(other, 1)[0]]
        )

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1] == "NOT_FOUND"


def test_the_hold_limit_is_the_same(settings):
    settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 2

    def scenario(date):
        ids, user = seat_ids(date, 3), UserFactory()
        for seat in ids[:2]:
            services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=[seat])
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[2:])

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1] == "HOLD_LIMIT_REACHED"


def test_the_seat_limit_is_the_same(settings):
    settings.MAX_SEATS_PER_BUYER_PER_DATE = 3

    def scenario(date):
        ids, user = seat_ids(date, 4), UserFactory()
        services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[:2])
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[2:])

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1] == "HOLD_LIMIT_REACHED" and procedure[0][3] == {"seats_of_date": 2, "max": 3}


def test_a_seat_of_an_expired_unswept_hold_is_held_the_same_way(settings):
    def scenario(date):
        ids = seat_ids(date, 2)
        old = services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids[1:])
        past = timezone.now() - dt.timedelta(seconds=1)
        Reservation.objects.filter(pk=old.pk).update(expires_at=past)
        Seat.objects.filter(pk=ids[1]).update(held_until=past)
        user = UserFactory()
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][0] == "held"
    assert sorted(status for status, _, _ in procedure[1][2]) == ["EXPIRED", "HELD"]


def test_a_date_without_its_inventory_is_refused_the_same_way(settings):
    def scenario(date):
        Inventory.objects.filter(concert_date=date).delete()
        user = UserFactory()
        return lambda: services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))

    procedure, python = both_ways(settings, scenario)
    assert procedure == python
    assert procedure[0][1:3] == ("NOT_FOUND", "Unknown concert date.")


@BOTH
def test_an_unknown_user_is_refused(settings, procedure):
    settings.HOLD_PROCEDURE = procedure
    date = make_date()
    ghost = UserFactory.build(pk=10**9)
    with pytest.raises(ApplicationError) as refused:
        services.hold_seats(user=ghost, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    assert (refused.value.code, refused.value.message) == ("NOT_FOUND", "No such user.")
    assert not Reservation.objects.exists()


def stray_live_claim(date, seat):
    """A live-seat claim on a seat the seat row shows free: the items' insert, the hold's last
    statement, fails on the unique index after every other write."""
    other = Reservation.objects.create(
        user=UserFactory(),
        concert_id=date.concert_id,
        concert_date=date,
        status="CANCELLED",
        total_price=0,
        expires_at=timezone.now(),
    )
    ReservationItem.objects.create(reservation=other, seat_id=seat, live_seat_id=seat, price=0)


@BOTH
def test_a_statement_that_fails_on_the_server_leaves_nothing(settings, procedure):
    settings.HOLD_PROCEDURE = procedure
    date = make_date()
    ids = seat_ids(date, 2)
    stray_live_claim(date, ids[1])
    before = database_state(date), OutboxEvent.objects.count()
    with pytest.raises(IntegrityError):
        services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids)
    assert (database_state(date), OutboxEvent.objects.count()) == before
    assert remaining_seats(date) == date.total_seats


@BOTH
def test_inside_a_callers_transaction_a_failure_is_undone_and_the_transaction_goes_on(settings, procedure):
    settings.HOLD_PROCEDURE = procedure
    date = make_date()
    ids = seat_ids(date, 3)
    stray_live_claim(date, ids[1])
    before = database_state(date)
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids[:2])
        services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids[2:])
    _, shards, reservations, events = database_state(date)
    assert seat_statuses(ids) == ["AVAILABLE", "AVAILABLE", "HELD"]
    assert sum(remaining for remaining, _ in shards) == date.total_seats - 1
    assert len(reservations) == len(before[2]) + 1 and len(events) == 1


def locked_elsewhere(table: str, pk: int) -> bool:
    """Whether another connection finds the row locked (a locking read that does not wait)."""
    found: list[bool] = []

    def probe() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT id FROM `{table}` WHERE id = %s FOR UPDATE NOWAIT", [pk])
            found.append(False)
        except OperationalError:
            found.append(True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(30)
    return found[0]


@BOTH
def test_a_refused_hold_waits_for_no_seat_lock(settings, procedure):
    """A seat the database shows taken is refused by the preview read under the buyer's lock: the
    hold locks no seat, so it does not wait behind another transaction's lock on a free one."""
    settings.HOLD_PROCEDURE = procedure
    date, user = make_date(), UserFactory()
    ids = seat_ids(date, 2)
    warm(date)
    # Taken behind the seat map's back: the map still shows it free, the database refuses it.
    Seat.objects.filter(pk=ids[1]).update(status=SeatStatus.HELD, held_until=timezone.now() + dt.timedelta(minutes=5))
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
    try:
        with row_locked_elsewhere("seat", ids[0]), pytest.raises(ApplicationError) as refused:
            services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert (refused.value.code, refused.value.details) == ("SEAT_UNAVAILABLE", {"seat_ids": ids[1:]})


@BOTH
def test_a_hold_locks_its_seats_and_its_buyer_until_it_ends(settings, procedure):
    settings.HOLD_PROCEDURE = procedure
    date, user = make_date(), UserFactory()
    ids = seat_ids(date, 3)
    with transaction.atomic():
        services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[:2])
        assert [locked_elsewhere("seat", seat) for seat in ids] == [True, True, False]
        assert locked_elsewhere("users", user.pk)
    assert not locked_elsewhere("seat", ids[0])


@BOTH
def test_a_hold_waits_for_the_same_buyers_hold_in_flight_and_counts_it(settings, procedure):
    """The buyer's caps are read under the buyer's row lock, so a hold that starts while another of the
    same buyer is still open waits for it and counts its seats. Without the lock it would read the
    committed count (without the open hold), and the buyer would end over the cap."""
    settings.HOLD_PROCEDURE = procedure
    settings.MAX_SEATS_PER_BUYER_PER_DATE = 4
    date, user = make_date(), UserFactory()
    ids = seat_ids(date, 8)
    first_open, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                results["first"] = services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[:4])
                first_open.set()
                release.wait(30)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            results["second"] = services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[4:])
        except ApplicationError as exc:
            results["second"] = exc.code
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_open.wait(30)
    threads[1].start()
    wait_for_a_lock_wait()  # the second hold waits on a lock the first holds
    release.set()
    for thread in threads:
        thread.join(30)
    assert results["second"] == "HOLD_LIMIT_REACHED"
    assert ReservationItem.objects.filter(reservation__user=user, live_seat__isnull=False).count() == 4
