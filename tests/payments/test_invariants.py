"""`manage.py check_invariants` (apps/payments/invariants.py) finds and names each kind of breach."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from apps.accounts import services as accounts
from apps.concerts.models import Inventory
from apps.payments import invariants
from apps.reservations import services as reservations
from apps.reservations.models import Reservation, ReservationItem
from tests.factories import seat_ids

pytestmark = pytest.mark.django_db


class TestCheckInvariants:
    def test_reports_a_broken_inventory_and_a_broken_wallet(self, concert_date, user, capsys):
        reservations.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1))
        call_command("check_invariants")
        Inventory.objects.filter(concert_date=concert_date).update(remaining=F("total"))
        type(user).objects.filter(pk=user.pk).update(balance=Decimal("5.00"))
        with pytest.raises(CommandError, match="2 invariant"):
            call_command("check_invariants")
        out = capsys.readouterr().out
        assert f"date {concert_date.pk} shard " in out and "inventory says" in out
        assert f"user {user.pk}: balance 5.00 but ledger sums to 0" in out

    def test_reports_a_seat_in_two_live_reservations_and_an_unreleased_hold(self, concert_date, user, capsys):
        seat = seat_ids(concert_date, 1)
        first = reservations.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat)
        second = Reservation.objects.create(
            user=user, concert_id=first.concert_id, concert_date=concert_date, total_price=0,
            expires_at=timezone.now() - dt.timedelta(hours=1),
        )  # fmt: skip
        ReservationItem.objects.create(reservation=second, seat_id=seat[0], price=0)
        with pytest.raises(CommandError):
            call_command("check_invariants")
        out = capsys.readouterr().out
        assert f"seat {seat[0]} is in 2 live reservations" in out
        assert f"hold {second.pk} expired" in out


class TestMoneyIsSummedExactly:
    """SQLite keeps decimals as floats: 0.10 + 0.20 summed there is 0.30000000000000004, not the
    balance's 0.30. The check compares cents, so it holds on SQLite and MariaDB alike (run this
    file with TEST_DATABASE_URL=sqlite:///... too), and still sees a one-cent breach."""

    def test_a_balance_made_of_cents_that_floats_cannot_add_is_no_breach(self, user):
        # 14783254.75, which SQLite sums to 14783254.749999998:
        for amount in ("750066.92", "2584099.30", "974023.59", "5916824.84", "4558240.10"):
            accounts.charge(user=user, amount=Decimal(amount))
        assert invariants.balances_match_ledgers() == []

    def test_a_balance_one_cent_off_its_ledger_is_a_breach(self, user):
        for amount in ("0.10", "0.20"):
            accounts.charge(user=user, amount=Decimal(amount))
        type(user).objects.filter(pk=user.pk).update(balance=Decimal("0.31"))
        assert invariants.balances_match_ledgers() == [f"user {user.pk}: balance 0.31 but ledger sums to 0.30"]
