"""insert_statement: an INSERT compiled once per shape is, parameter for parameter, the statement
Django's compiler makes, for every model the booking path inserts, on its first use and after it, and
a shape it cannot vouch for is compiled every time instead."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import router, transaction
from django.db.models import Value, sql
from django.db.models.functions import Now
from django.utils import timezone

from apps.accounts.models import LedgerKind, WalletTransaction
from apps.common import db
from apps.common.db import LastInsertId, insert_statement, inserted_ids, run_batch
from apps.common.models import OutboxEvent
from apps.payments.models import Payment
from apps.reservations.models import Reservation, ReservationItem, ReservationStatus
from tests.factories import UserFactory, make_date, seat_ids

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def fresh_shapes(monkeypatch):
    """Nothing compiled yet, as in a fresh process."""
    monkeypatch.setattr(db._INSERTS, "_shapes", {})


@pytest.fixture
def clock(monkeypatch):
    """`timezone.now()` (what auto_now fields take) a new moment on every call, the same for both
    sides of a comparison: `tick()` moves it."""
    moments = itertools.count()
    current = [MOMENT]

    def tick():
        current[0] = MOMENT + dt.timedelta(seconds=next(moments), microseconds=7)

    monkeypatch.setattr(timezone, "now", lambda: current[0])
    return tick


def plain_insert(model, objs):
    """The statement as insert_statement compiled it before it kept shapes: Django's compiler, every time."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    query = sql.InsertQuery(model)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(using=router.db_for_write(model))
    if compiler.connection.features.can_return_rows_from_bulk_insert:
        compiler.returning_fields = [model._meta.pk]
    (statement,) = compiler.as_sql()
    return statement


def exactly(statement):
    """What the driver receives, down to each parameter's type and repr (Decimal("1.0") == Decimal("1.00"))."""
    statement_sql, params = statement
    return statement_sql, type(params), [(type(p), repr(p)) for p in params]


def assert_as_django(model, make_objs, tick):
    """insert_statement of `make_objs()` against the compiler's statement of another `make_objs()`,
    at the same moment; returns the objects insert_statement was given."""
    tick()
    objs, twins = make_objs(), make_objs()
    assert exactly(insert_statement(model, objs)) == exactly(plain_insert(model, twins))
    for obj, twin in zip(objs, twins, strict=True):  # auto_now filled on the objects, as on save
        assert (obj.created_at, obj.updated_at) == (twin.created_at, twin.updated_at) == (timezone.now(),) * 2
    return objs


def reservation(user_id, total, expires_at, status=ReservationStatus.HELD):
    return Reservation(
        user_id=user_id, concert_id=user_id + 1, concert_date_id=user_id + 2, status=status, total_price=total,
        expires_at=expires_at,
    )  # fmt: skip


def items(count, *, price, first_seat=1, reservation_id=None):
    return [
        ReservationItem(
            reservation_id=reservation_id if reservation_id is not None else LastInsertId(Reservation),
            seat_id=first_seat + i,
            live_seat_id=first_seat + i,
            price=price,
        )
        for i in range(count)
    ]


CASES = {
    Reservation: [
        lambda: [reservation(3, Decimal("150000.00"), MOMENT + dt.timedelta(minutes=10))],
        lambda: [reservation(41, Decimal("12.5"), MOMENT + dt.timedelta(days=2, microseconds=1))],
        lambda: [reservation(7, Decimal(0), MOMENT.astimezone(dt.timezone(dt.timedelta(hours=9))), "CONFIRMED")],
        lambda: [reservation(8, 300, MOMENT)],  # an int where a Decimal goes
    ],
    ReservationItem: [
        lambda: items(1, price=Decimal("50000.00")),
        lambda: items(1, price=Decimal("0.1"), first_seat=90),
        lambda: items(1, price=Decimal("1E+2"), first_seat=5),
    ],
    OutboxEvent: [
        lambda: [OutboxEvent(kind="seat_map_changed", payload={"concert_date_id": 1, "seat_ids": [1, 2]}, available_at=MOMENT)],
        lambda: [OutboxEvent(kind="payment_completed", payload={"note": "é \"quoted\" 50%", "n": None, "x": 1.5}, available_at=MOMENT + dt.timedelta(hours=1))],
        lambda: [OutboxEvent(kind="k", payload={}, available_at=MOMENT, attempts=3, status="DONE", last_error="boom")],
        lambda: [OutboxEvent(kind="k", payload=[1, "two"], available_at=MOMENT, done_at=MOMENT)],
    ],
    Payment: [
        lambda: [Payment(user_id=1, reservation_id=2, amount=Decimal("200000.00"), paid_at=MOMENT)],
        lambda: [Payment(user_id=9, reservation_id=99, amount=Decimal("0.00"), paid_at=MOMENT + dt.timedelta(microseconds=1))],
        lambda: [Payment(user_id=9, reservation_id=98, amount=Decimal("5"), paid_at=MOMENT, status="REFUNDED", refunded_at=MOMENT)],
    ],
    WalletTransaction: [
        lambda: [WalletTransaction(user_id=1, kind=LedgerKind.PAYMENT, amount=Decimal("-200000.00"), balance_after=Decimal("800000.00"), reference="reservation:1")],
        lambda: [WalletTransaction(user_id=2, kind=LedgerKind.REFUND, amount=Decimal("3.10"), balance_after=Decimal("3.1"), reference="")],
        lambda: [WalletTransaction(user_id=3, kind=LedgerKind.CHARGE, amount=Decimal("1"), balance_after=Decimal("1E+3"))],
    ],
}  # fmt: skip


@pytest.mark.parametrize("model", list(CASES), ids=lambda model: model.__name__)
def test_every_model_of_the_booking_path_gets_the_compilers_statement_first_and_after(model, clock):
    first, *others = CASES[model]
    assert not db._INSERTS.is_prepared(model, first())
    assert_as_django(model, first, clock)
    assert db._INSERTS.is_prepared(model, first())
    for make in [*others, first, *others]:
        assert_as_django(model, make, clock)
    assert len(db._INSERTS._shapes) == 1  # one row each: one shape
    assert all(kept is not db._UNPREPARABLE for kept in db._INSERTS._shapes.values())


def test_each_number_of_rows_is_a_shape_of_its_own(clock):
    for count in (1, 3, 1, 2, 3, 2):
        for price in (Decimal("10.00"), Decimal("7.5")):
            assert_as_django(ReservationItem, lambda count=count, price=price: items(count, price=price), clock)
    assert len(db._INSERTS._shapes) == 3
    assert all(db._INSERTS.is_prepared(ReservationItem, items(count, price=1)) for count in (1, 2, 3))


def test_the_expression_a_field_holds_is_part_of_the_shape(clock):
    """LastInsertId (of which model) against a plain id in the same field: other SQL, other params."""
    assert_as_django(ReservationItem, lambda: items(2, price=5), clock)
    assert_as_django(ReservationItem, lambda: items(2, price=5, reservation_id=77), clock)
    assert_as_django(ReservationItem, lambda: items(2, price=6, reservation_id=78), clock)
    other = [
        ReservationItem(reservation_id=LastInsertId(Payment), seat_id=1, live_seat_id=1, price=1) for _ in range(2)
    ]
    assert db._INSERTS.statement(ReservationItem, other)[0] == plain_insert(ReservationItem, other)[0]
    assert len(db._INSERTS._shapes) == 3
    with_expression, without = (
        insert_statement(ReservationItem, items(2, price=5)),
        plain_insert(ReservationItem, items(2, price=5, reservation_id=77)),
    )
    assert with_expression[0] != without[0] and len(with_expression[1]) == len(without[1]) - 2


def test_another_expression_is_compiled_every_time(clock):
    """Its SQL cannot be told from its type (Value's carries a parameter, Now's none)."""
    for available_at in (Now(), Value(MOMENT), Value(MOMENT + dt.timedelta(days=1))):
        for _ in range(2):
            assert_as_django(
                OutboxEvent, lambda at=available_at: [OutboxEvent(kind="k", payload={}, available_at=at)], clock
            )
    assert db._INSERTS._shapes == {}
    assert not db._INSERTS.is_prepared(OutboxEvent, [OutboxEvent(kind="k", payload={}, available_at=Now())])


def test_a_shape_whose_parameters_differ_from_the_compilers_is_compiled_every_time(monkeypatch, clock):
    real = db._insert_params
    monkeypatch.setattr(db, "_insert_params", lambda *args: [str(p) for p in real(*args)])  # a prep that differs
    for total in (Decimal("1.00"), Decimal("2.50"), Decimal("3")):
        assert_as_django(Reservation, lambda total=total: [reservation(1, total, MOMENT)], clock)
    assert list(db._INSERTS._shapes.values()) == [db._UNPREPARABLE]
    assert not db._INSERTS.is_prepared(Reservation, [reservation(1, Decimal(1), MOMENT)])


def test_a_prepared_insert_writes_what_it_says():
    """Run on the database: the rows read back are the objects' (the second through the kept shape)."""
    date, user = make_date(), UserFactory()
    ids = seat_ids(date)[:3]
    for round_, seats in enumerate((ids[:1], ids[1:])):
        held = Reservation(
            user=user, concert=date.concert, concert_date=date, total_price=Decimal("100.50") * len(seats),
            expires_at=MOMENT + dt.timedelta(minutes=round_),
        )  # fmt: skip
        rows = items(len(seats), price=Decimal("100.50"), first_seat=0)
        for row, seat in zip(rows, seats, strict=True):
            row.seat_id = row.live_seat_id = seat
        event = OutboxEvent(kind="k", payload={"seats": seats, "text": "é"}, available_at=MOMENT)
        with transaction.atomic():
            results = run_batch(
                [insert_statement(Reservation, [held]), insert_statement(ReservationItem, rows),
                 insert_statement(OutboxEvent, [event])]
            )  # fmt: skip
            (held.pk,) = inserted_ids(results[0], 1)
            (event.pk,) = inserted_ids(results[2], 1)
        stored = Reservation.objects.get(pk=held.pk)
        assert (stored.total_price, stored.expires_at, stored.created_at, stored.updated_at) == (
            held.total_price, held.expires_at, held.created_at, held.updated_at
        )  # fmt: skip
        assert sorted(stored.items.values_list("seat_id", "live_seat_id", "price")) == [
            (seat, seat, Decimal("100.50")) for seat in sorted(seats)
        ]
        assert OutboxEvent.objects.get(pk=event.pk).payload == {"seats": seats, "text": "é"}
    assert len(db._INSERTS._shapes) == 4  # the reservation, 1 and 2 items, the event
    assert all(kept is not db._UNPREPARABLE for kept in db._INSERTS._shapes.values())


@pytest.mark.django_db(transaction=True)
def test_a_hold_and_a_payment_insert_prepared(settings):
    """From a fresh process's first hold and payment (nothing compiled, no test transaction around it);
    the hold's inserts from Python, as on SQLite (on MariaDB the hold procedure makes them)."""
    settings.HOLD_PROCEDURE = False
    from apps.payments import services as payments
    from apps.reservations import services as reservations

    date = make_date()
    ids = seat_ids(date)
    for seats in (ids[:2], ids[2:4]):  # compiled and checked, then through the kept shapes
        user = UserFactory(balance=Decimal("1000000.00"))
        held = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seats)
        payment, _ = payments.pay_for_reservation(user=user, reservation_id=held.pk)
        assert sorted(ReservationItem.objects.filter(reservation=held).values_list("seat_id", flat=True)) == sorted(
            seats
        )
        assert Payment.objects.get(pk=payment.pk).amount == held.total_price
        assert WalletTransaction.objects.get(user=user).amount == -held.total_price
    kept = {shape[0] for shape, compiled in db._INSERTS._shapes.items() if compiled is not db._UNPREPARABLE}
    assert {Reservation, ReservationItem, OutboxEvent, Payment, WalletTransaction} <= kept
    assert all(compiled is not db._UNPREPARABLE for compiled in db._INSERTS._shapes.values())
