"""PreparedSelect: a statement compiled once per shape answers exactly what the plain queryset does,
for every value, and a builder whose values shape the statement is compiled every time instead."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.common.db import PreparedSelect, run_batch
from apps.common.exceptions import NotFound
from apps.concerts.models import Seat, SeatStatus
from tests.factories import make_date, seat_ids
from tests.helpers import mark_held

pytestmark = pytest.mark.django_db


def seats_taken(*, concert_date_id, ids, now):
    return Seat.objects.filter(
        concert_date_id=concert_date_id, pk__in=ids, status=SeatStatus.HELD, held_until__gt=now
    ).order_by("pk")


def all_seats(date):
    return list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))


def run(prepared, **values):
    statement, read = prepared.statement(**values)
    with transaction.atomic():
        return [seat.pk for seat in read(run_batch([statement])[0])]


def test_every_value_reaches_the_statement():
    dates = [make_date(), make_date()]
    for date in dates:
        mark_held(date, seat_ids(date)[:3])
    prepared = PreparedSelect(seats_taken, fields=("id",))
    now = timezone.now()
    for date in dates:
        for ids in (seat_ids(date)[:2], seat_ids(date)[2:4], seat_ids(dates[0])[:2]):
            for moment in (now, now + dt.timedelta(days=1)):
                expected = list(seats_taken(concert_date_id=date.pk, ids=ids, now=moment).values_list("pk", flat=True))
                assert run(prepared, concert_date_id=date.pk, ids=ids, now=moment) == expected
    assert prepared.is_prepared(concert_date_id=1, ids=[1, 2], now=now)
    assert len(prepared._shapes) == 1  # one shape: two seat ids


def test_a_builder_whose_values_shape_the_statement_is_compiled_every_time():
    date = make_date()
    mark_held(date, seat_ids(date)[:3])

    def first_seats(*, concert_date_id, count):  # `count` is a LIMIT: part of the shape, not a parameter
        return Seat.objects.filter(concert_date_id=concert_date_id).order_by("pk")[:count]

    prepared = PreparedSelect(first_seats, fields=("id",))
    assert run(prepared, concert_date_id=date.pk, count=2) == all_seats(date)[:2]
    assert not prepared.is_prepared(concert_date_id=date.pk, count=2)
    assert run(prepared, concert_date_id=date.pk, count=3) == all_seats(date)[:3]


def test_a_value_the_statement_derives_another_from_is_not_prepared():
    date = make_date()

    def later(*, concert_date_id, now):  # a parameter computed from a value
        return Seat.objects.filter(concert_date_id=concert_date_id, updated_at__lt=now + dt.timedelta(days=1))

    prepared = PreparedSelect(later, fields=("id",))
    now = timezone.now()
    assert sorted(run(prepared, concert_date_id=date.pk, now=now)) == all_seats(date)
    assert not prepared.is_prepared(concert_date_id=date.pk, now=now)


@pytest.mark.django_db(transaction=True)
def test_the_hold_runs_its_locks_prepared(monkeypatch, settings):
    """From a fresh process's first hold (nothing compiled yet, no test transaction around it); the
    hold's statements from Python, as on SQLite (on MariaDB the hold procedure runs them)."""
    settings.HOLD_PROCEDURE = False
    from apps.concerts.selectors import hold_preview_shards
    from apps.reservations import services
    from tests.factories import UserFactory

    monkeypatch.setattr(services._HOLD_USER_LOCK, "_shapes", {})
    monkeypatch.setattr(services._HOLD_SEAT_LOCK, "_shapes", {})
    date, user = make_date(), UserFactory()
    ids = seat_ids(date)[:2]
    services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)
    assert services._HOLD_USER_LOCK.is_prepared(
        user_id=user.pk, concert_date_id=date.pk, seat_ids=ids, shards=hold_preview_shards(ids), now=timezone.now()
    )
    assert services._HOLD_SEAT_LOCK.is_prepared(
        seat_ids=sorted(ids), user_id=user.pk, concert_date_id=date.pk, now=timezone.now()
    )


@pytest.mark.django_db(transaction=True)
def test_a_locking_statement_is_prepared_inside_the_callers_transaction():
    """Its first use compiles it: outside a transaction the ORM refuses a locking read (a request's
    first hold in a fresh process would fail)."""
    date = make_date()

    def locked(*, concert_date_id, ids):
        return Seat.objects.select_for_update().filter(concert_date_id=concert_date_id, pk__in=ids).order_by("pk")

    prepared = PreparedSelect(locked, fields=("id",))
    ids = all_seats(date)[:2]
    for _ in range(2):  # compiled, then reused
        with transaction.atomic():
            statement, read = prepared.statement(concert_date_id=date.pk, ids=ids)
            assert [seat.pk for seat in read(run_batch([statement])[0])] == ids
    assert prepared.is_prepared(concert_date_id=date.pk, ids=ids)


@pytest.mark.django_db(transaction=True)
def test_a_payment_runs_its_reads_and_locks_prepared(monkeypatch):
    from decimal import Decimal

    from apps.accounts import services as accounts
    from apps.payments import services as payments
    from apps.reservations import selectors
    from apps.reservations import services as reservations
    from tests.factories import UserFactory

    for prepared in (accounts._WALLET_LOCK, reservations._OWN_RESERVATION_LOCK, selectors._DATE_OF):
        monkeypatch.setattr(prepared, "_shapes", {})
    date, user = make_date(), UserFactory(balance=Decimal("1000000.00"))
    held = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date)[:1])
    assert selectors.concert_date_of(user=user, reservation_id=held.pk) == date.pk
    payment, _ = payments.pay_for_reservation(user=user, reservation_id=held.pk)
    assert payment.reservation_id == held.pk
    assert accounts._WALLET_LOCK.is_prepared(user_id=user.pk)
    assert reservations._OWN_RESERVATION_LOCK.is_prepared(user_id=user.pk, reservation_id=held.pk)
    assert selectors._DATE_OF.is_prepared(user_id=user.pk, reservation_id=held.pk)
    with pytest.raises(NotFound):  # another buyer's reservation, through the prepared statement
        selectors.concert_date_of(user=UserFactory(), reservation_id=held.pk)


@pytest.mark.django_db(transaction=True)
def test_the_booking_paths_writes_are_prepared_and_write_what_they_say(monkeypatch, settings):
    """The seat and shard UPDATEs of a hold (from Python, as on SQLite) and the seat, reservation and
    balance UPDATEs of a payment, from a fresh process."""
    settings.HOLD_PROCEDURE = False
    from decimal import Decimal

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.concerts import services as catalogue
    from apps.concerts.models import Inventory
    from apps.payments import services as payments
    from apps.reservations import services as reservations
    from apps.reservations.models import Reservation, ReservationStatus
    from tests.factories import UserFactory
    from tests.helpers import remaining_seats

    writes = (catalogue._HOLD_SEATS, catalogue._SHARD_UPDATE, catalogue._RESERVE_SEATS)
    for prepared in (*writes, reservations._CONFIRM, accounts._SET_BALANCE):
        monkeypatch.setattr(prepared, "_shapes", {})
    date, user = make_date(), UserFactory(balance=Decimal("1000000.00"))
    ids = sorted(seat_ids(date)[:2])
    versions_before = dict(Inventory.objects.filter(concert_date=date).values_list("shard", "version"))
    held = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)
    assert set(Seat.objects.filter(pk__in=ids).values_list("status", flat=True)) == {SeatStatus.HELD}
    assert remaining_seats(date) == date.total_seats - 2
    moved = {s for s, v in Inventory.objects.filter(concert_date=date).values_list("shard", "version")
             if v != versions_before[s]}  # fmt: skip
    assert moved == {catalogue.inventory_shard_of(seat) for seat in ids}
    payment, balance = payments.pay_for_reservation(user=user, reservation_id=held.pk)
    assert set(Seat.objects.filter(pk__in=ids).values_list("status", "held_until")) == {(SeatStatus.RESERVED, None)}
    confirmed = Reservation.objects.get(pk=held.pk)
    assert (confirmed.status, confirmed.reserved_at is not None) == (ReservationStatus.CONFIRMED, True)
    assert User.objects.get(pk=user.pk).balance == balance == Decimal("1000000.00") - payment.amount
    now = timezone.now()
    assert reservations._CONFIRM.is_prepared(reservation_id=held.pk, now=now)
    assert accounts._SET_BALANCE.is_prepared(user_id=user.pk, balance=Decimal("1.00"), now=now)
    assert catalogue._HOLD_SEATS.is_prepared(seat_ids=ids, held_until=now, now=now)
    assert catalogue._SHARD_UPDATE.is_prepared(concert_date_id=1, shard=1, version=1, delta=-1, now=now)
    assert catalogue._RESERVE_SEATS.is_prepared(seat_ids=ids, concert_date_id=date.pk, now=now)


def test_string_values_reach_the_statement():
    """A string is a parameter like an int (the refresh's session id and token ids)."""
    from apps.accounts.models import User
    from tests.factories import UserFactory

    users = [UserFactory(), UserFactory()]

    def by_email(*, email):
        return User.objects.filter(email=email)

    prepared = PreparedSelect(by_email, fields=("id",))
    for user in [*users, users[0]]:
        statement, read = prepared.statement(email=user.email)
        assert [found.pk for found in read(run_batch([statement])[0])] == [user.pk]
    statement, read = prepared.statement(email="nobody@example.com")
    assert read(run_batch([statement])[0]) == []
    assert prepared.is_prepared(email="x")


@pytest.mark.django_db(transaction=True)
def test_decimal_values_reach_the_statement_as_written():
    """A Decimal is a parameter like an int (a wallet's new balance): every value is written exactly,
    the cents too, through one compiled shape."""
    from decimal import Decimal

    from apps.accounts.models import User
    from apps.common.db import PreparedUpdate
    from tests.factories import UserFactory

    users = [UserFactory(), UserFactory()]
    prepared = PreparedUpdate(
        lambda *, user_id, balance, now: (User.objects.filter(pk=user_id), {"balance": balance, "updated_at": now})
    )
    for user, balance in ((users[0], Decimal("12.34")), (users[1], Decimal("0.05")), (users[0], Decimal("99999.99"))):
        with transaction.atomic():
            (result,) = run_batch([prepared.statement(user_id=user.pk, balance=balance, now=timezone.now())])
        assert result.rowcount == 1
        assert User.objects.get(pk=user.pk).balance == balance
    assert User.objects.get(pk=users[1].pk).balance == Decimal("0.05")  # the last write to users[0] left it alone
    assert prepared.is_prepared(user_id=1, balance=Decimal("1.00"), now=timezone.now())


def test_a_string_the_statement_rewrites_is_not_prepared():
    """A `contains` lookup wraps the value in wildcards: the parameter is not the value, so the shape is
    compiled every time."""
    from apps.accounts.models import User
    from tests.factories import UserFactory

    user = UserFactory()
    prepared = PreparedSelect(lambda *, part: User.objects.filter(email__contains=part), fields=("id",))
    statement, read = prepared.statement(part=user.email[1:-1])
    assert [found.pk for found in read(run_batch([statement])[0])] == [user.pk]
    assert not prepared.is_prepared(part="x")


@pytest.mark.django_db(transaction=True)
def test_a_refresh_runs_its_two_statements_prepared(monkeypatch):
    from apps.accounts import services as accounts
    from tests.factories import UserFactory

    for prepared in (accounts._ACTIVE_USER, accounts._ROTATE_REFRESH):
        monkeypatch.setattr(prepared, "_shapes", {})
    user = UserFactory()
    pair = accounts.issue_tokens(user=user)
    for _ in range(3):  # compiled, then reused: each new token works once
        pair = accounts.rotate_refresh_token(refresh=pair["refresh"])
    assert accounts._ACTIVE_USER.is_prepared(user_id=user.pk)
    assert accounts._ROTATE_REFRESH.is_prepared(
        family_id="f", user_id=user.pk, jti="a", new_jti="b", expires_at=timezone.now()
    )
