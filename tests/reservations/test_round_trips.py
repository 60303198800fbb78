"""Round trips to MariaDB per booking request, counted at the driver with the real begin and commit
(no test transaction around them): a hold in at most 5 (one: the hold procedure; four without it), a
payment in at most 6 (one: the payment procedure; four with an Idempotency-Key; three from Python), a
refused hold in at most 2 (issue 23)."""

import datetime as dt

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.utils import timezone

from apps.common.db import run_batch
from apps.common.exceptions import ApplicationError
from apps.common.models import IdempotencyKey, OutboxEvent
from apps.concerts import choosing, seat_map
from apps.concerts.models import INVENTORY_SHARD_BLOCK, Seat, SeatStatus
from apps.concerts.selectors import date_facts
from apps.payments import services as payments
from apps.reservations import services as reservations
from apps.reservations.models import Reservation, ReservationItem
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import admitted_client, count_redis_sends, db_round_trips, fund

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="round trips are counted on MariaDB"),
]


def warm(date) -> None:
    """What a live server has in process memory before a hold: the date's facts and its seat map."""
    date_facts(date.pk)
    status = seat_map.seat_status(concert_date_id=date.pk)
    choosing.seat_plan(concert_date_id=date.pk, layout_version=status.layout_version)


def kinds(sent):
    return [name if name != "query" else sql.split()[0].upper() for name, sql in sent]


def test_a_transaction_costs_its_commit_and_nothing_else():
    with db_round_trips() as sent, transaction.atomic():
        Seat.objects.exists()
    assert kinds(sent) == ["START", "commit"]  # START TRANSACTION travels with the first statement
    with db_round_trips() as sent, transaction.atomic():
        pass
    assert sent == []


def test_a_hold_is_one_round_trip():
    """On MariaDB the hold's transaction is one call of the hold procedure: it begins, locks, writes
    and commits on the server."""
    date, user = make_date(), UserFactory()
    ids = seat_ids(date)
    start = next(i for i, seat in enumerate(ids) if seat % INVENTORY_SHARD_BLOCK == 0)
    warm(date)
    with db_round_trips() as sent:
        reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[start : start + 2])
    assert kinds(sent) == ["CALL"], sent
    stored = Reservation.objects.get()
    assert (stored.pk, stored.total_price, stored.status) == (reservation.pk, reservation.total_price, "HELD")
    assert (stored.created_at, stored.expires_at) == (reservation.created_at, reservation.expires_at)
    items = list(ReservationItem.objects.order_by("pk").values_list("pk", "reservation_id", "seat_id", "price"))
    assert items == [(item.pk, reservation.pk, item.seat_id, item.price) for item in reservation.items.all()]
    event = OutboxEvent.objects.get()
    assert (event.kind, event.payload) == (
        "concerts.seat_map_changed",
        {"concert_date_id": date.pk, "seat_ids": ids[start : start + 2]},
    )


def test_without_the_procedure_a_hold_is_four_round_trips(settings):
    settings.HOLD_PROCEDURE = False
    date, user = make_date(), UserFactory()
    ids = seat_ids(date)
    start = next(i for i, seat in enumerate(ids) if seat % INVENTORY_SHARD_BLOCK == 0)
    warm(date)
    with db_round_trips() as sent:
        reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids[start : start + 2])
    # the user lock reading the taken seats and shard versions (with the begin); the seat lock
    # reading the buyer's counts; one batch: seats, shard, outbox row, reservation, items; commit
    assert kinds(sent) == ["START", "SELECT", "UPDATE", "commit"], sent
    assert len(sent) <= 5
    assert (
        "INSERT INTO `reservation_item`" in sent[2][1] and f"INSERT INTO `{OutboxEvent._meta.db_table}`" in sent[2][1]
    )
    stored = Reservation.objects.get()
    assert (stored.pk, stored.total_price, stored.status) == (reservation.pk, reservation.total_price, "HELD")
    items = list(ReservationItem.objects.order_by("pk").values_list("pk", "reservation_id", "seat_id"))
    assert items == [(item.pk, reservation.pk, item.seat_id) for item in reservation.items.all()]


@pytest.mark.parametrize("procedure", [True, False])
def test_a_refused_hold_is_at_most_two_round_trips(settings, procedure):
    settings.HOLD_PROCEDURE = procedure
    date, user = make_date(), UserFactory()
    ids = seat_ids(date, 2)
    warm(date)
    # Taken behind the seat map's back: the map still shows it free, the database refuses it.
    Seat.objects.filter(pk=ids[1]).update(status=SeatStatus.HELD, held_until=timezone.now() + dt.timedelta(minutes=5))
    with db_round_trips() as sent, pytest.raises(ApplicationError) as refused:
        reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)
    assert (refused.value.code, refused.value.details) == ("SEAT_UNAVAILABLE", {"seat_ids": ids[1:]})
    # the user lock reading the preview; no seat locked (the procedure rolls back on the server)
    assert kinds(sent) == (["CALL"] if procedure else ["START", "rollback"]), sent
    assert not Reservation.objects.exists() and not OutboxEvent.objects.exists()


def test_a_payment_is_one_round_trip():
    """On MariaDB a payment for the date of the buyer's queue access is one call of the payment
    procedure: it begins, locks, writes and commits on the server."""
    date, user = make_date(), UserFactory()
    fund(user)
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
    date_facts(date.pk)
    with db_round_trips() as sent:
        payment, balance = payments.pay_for_reservation(user=user, reservation_id=reservation.pk, queue_date_id=date.pk)
    assert kinds(sent) == ["CALL"], sent
    reservation.refresh_from_db()
    assert reservation.status == "CONFIRMED"
    assert list(Seat.objects.filter(pk__in=seat_ids(date, 2)).values_list("status", flat=True)) == ["RESERVED"] * 2
    user.refresh_from_db()
    assert (payment.amount, balance) == (reservation.total_price, user.balance)


def test_without_the_procedure_a_payment_is_three_round_trips():
    """The same steps from Python (SQLite, or a payment not made through a queue access)."""
    date, user = make_date(), UserFactory()
    fund(user)
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
    date_facts(date.pk)
    with db_round_trips() as sent:
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
    # the reservation and wallet locks (with the begin); one batch of every write; commit
    assert kinds(sent) == ["START", "UPDATE", "commit"], sent
    reservation.refresh_from_db()
    assert reservation.status == "CONFIRMED"
    assert list(Seat.objects.filter(pk__in=seat_ids(date, 2)).values_list("status", flat=True)) == ["RESERVED"] * 2


def test_a_failing_statement_in_a_batch_rolls_the_transaction_back():
    date = make_date()
    seat = seat_ids(date, 1)[0]
    with pytest.raises(ProgrammingError), transaction.atomic():
        run_batch(
            [
                ("UPDATE `seat` SET `status` = %s WHERE `id` = %s", ["HELD", seat]),
                ("SELECT * FROM no_such_table WHERE 1 = %s", [1]),
                ("UPDATE `seat` SET `status` = %s WHERE `id` = %s", ["RESERVED", seat]),
            ]
        )
    assert Seat.objects.get(pk=seat).status == "AVAILABLE"


@pytest.fixture
def redis_round_trips(monkeypatch):
    """What the process sends to Redis: one entry per command or per pipeline."""
    return count_redis_sends(monkeypatch)


def test_through_the_api_a_hold_and_its_payment_check_the_buyer_in_one_redis_round_trip(redis_round_trips):
    """Before the transaction: the access token's revocation, the rate limits, the queue token and
    the seat map's version in one pipeline, and no user row read. (After commit the seat-map patch,
    the effect's note, the seat counts and the latency record follow in one more pipeline:
    tests/common/test_after_commit_round_trip.py.)"""
    date, user = make_date(), UserFactory()
    fund(user)
    client = admitted_client(date, user)
    ids = seat_ids(date, 3)
    client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": ids[:1]}, format="json")
    warm(date)
    seat_map.seat_status(concert_date_id=date.pk)  # this process's copy is current, as in a rush
    redis_round_trips.clear()
    with db_round_trips() as sent:
        held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": ids[1:]}, format="json")
    assert held.status_code == 201, held.json()
    assert kinds(sent) == ["CALL"], sent
    before_commit = [c for c in redis_round_trips if b"revoked_before" in b"".join(c)]
    assert len(before_commit) == 1 and b"throttle:hold" in b"".join(before_commit[0])
    assert redis_round_trips.index(before_commit[0]) == 0
    redis_round_trips.clear()
    with db_round_trips() as sent:
        paid = client.post("/api/payments", {"reservation_id": held.json()["id"]}, format="json")
    assert paid.status_code == 201, paid.json()
    # the payment procedure (the date is the queue token's own: no read of it first)
    assert kinds(sent) == ["CALL"], sent
    first = b"".join(redis_round_trips[0])
    assert b"revoked_before" in first and b"throttle:pay" in first
    assert not any(b"revoked_before" in b"".join(c) for c in redis_round_trips[1:])


def test_a_hold_brings_the_seat_map_copy_forward_from_the_gates_round_trip(redis_round_trips):
    """The change log after this process's copy of the seat map travels in the gate's pipeline with
    the version: a copy that other holds have moved past is brought forward (or answers, when none of
    the named seats changed) without a Redis round trip of its own."""
    date, user = make_date(), UserFactory()
    client = admitted_client(date, user)
    ids = seat_ids(date, 3)
    warm(date)
    for seat_id in ids[:2]:  # two holds elsewhere (another process) committed since this process's copy
        seat_map.invalidate_seat_map(concert_date_id=date.pk, seat_ids=[seat_id])
    redis_round_trips.clear()
    held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": ids[2:]}, format="json")
    assert held.status_code == 201, held.json()
    gate = b"".join(redis_round_trips[0])
    assert b"revoked_before" in gate and b"ZRANGEBYSCORE" in gate
    assert not any(b"ZRANGEBYSCORE" in b"".join(sent) for sent in redis_round_trips[1:])


def test_through_the_api_a_keyed_payment_is_four_round_trips():
    """With an Idempotency-Key: the key's row is the transaction's first statement and the stored
    answer its last; the payment procedure runs in that transaction, its savepoint travelling with the
    call and the release with the stored answer."""
    date, user = make_date(), UserFactory()
    fund(user)
    client = admitted_client(date, user)
    held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 2)}, format="json")
    date_facts(date.pk)
    body = {"reservation_id": held.json()["id"]}
    with db_round_trips() as sent:
        paid = client.post("/api/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert paid.status_code == 201, paid.json()
    # the key (the queue gate's date is the token's own); the payment procedure; the stored answer; commit
    assert kinds(sent) == ["START", "SAVEPOINT", "RELEASE", "commit"], sent
    assert "INSERT INTO `common_idempotencykey`" in sent[0][1]
    assert "CALL payments_pay(" in sent[1][1]
    assert "UPDATE `common_idempotencykey`" in sent[2][1]
    # Replayed after the payment ended the queue access: the gate refuses the token (and reads the
    # reservation's date, as a refusal does: an unknown one is 404), the stored answer is found, and the
    # key's taken row ends the transaction it began.
    with db_round_trips() as sent:
        again = client.post("/api/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, paid.json(), "true")
    assert kinds(sent) == ["SELECT", "SELECT", "START", "rollback", "SELECT"], sent


def hold_in_a_block_that_fails(seat: int) -> None:
    with transaction.atomic():
        Seat.objects.filter(pk=seat).update(status=SeatStatus.HELD)
        raise RuntimeError


class TestSavepoints:
    """A nested block's savepoint and release travel with the next statement; one that no statement
    followed is never sent."""

    def test_a_nested_block_costs_no_round_trip_of_its_own(self):
        date = make_date()
        seat = seat_ids(date, 1)[0]
        with db_round_trips() as sent, transaction.atomic():
            with transaction.atomic():
                Seat.objects.filter(pk=seat).update(status=SeatStatus.HELD)
            with transaction.atomic():
                pass
            Seat.objects.filter(pk=seat).update(held_until=timezone.now())
        assert kinds(sent) == ["START", "RELEASE", "commit"], sent
        assert "SAVEPOINT" in sent[0][1] and "UPDATE" in sent[1][1]
        assert Seat.objects.get(pk=seat).status == SeatStatus.HELD

    def test_rolling_back_to_a_sent_savepoint_undoes_only_the_nested_block(self):
        date = make_date()
        first, second = seat_ids(date, 2)
        with db_round_trips() as sent, transaction.atomic():
            Seat.objects.filter(pk=first).update(status=SeatStatus.HELD)
            with pytest.raises(RuntimeError):
                hold_in_a_block_that_fails(second)
        assert kinds(sent) == ["START", "SAVEPOINT", "ROLLBACK", "commit"], sent
        assert dict(Seat.objects.filter(pk__in=[first, second]).values_list("pk", "status")) == {
            first: SeatStatus.HELD,
            second: SeatStatus.AVAILABLE,
        }

    def test_a_failed_statement_in_a_nested_block_leaves_the_outer_one_going(self):
        date, user = make_date(), UserFactory()
        seat = seat_ids(date, 1)[0]
        IdempotencyKey.objects.create(user=user, key="k", scope="s", request_hash="h")
        with db_round_trips() as sent, transaction.atomic():
            with pytest.raises(IntegrityError), transaction.atomic():
                IdempotencyKey.objects.create(user=user, key="k", scope="s", request_hash="h")
            with pytest.raises(RuntimeError), transaction.atomic():
                raise RuntimeError  # a savepoint no statement followed: nothing to send, nothing to undo
            Seat.objects.filter(pk=seat).update(status=SeatStatus.HELD)
        # the begin, the savepoint and the refused INSERT; back to the savepoint; its release with the
        # UPDATE; commit
        assert kinds(sent) == ["START", "ROLLBACK", "RELEASE", "commit"], sent
        assert "UPDATE `seat`" in sent[2][1]
        assert Seat.objects.get(pk=seat).status == SeatStatus.HELD
        assert IdempotencyKey.objects.count() == 1
