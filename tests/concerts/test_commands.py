"""The operator commands: demo data for `make run`, bulk data for load tests."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Sum
from django.utils import timezone

from apps.accounts.models import User, WalletTransaction
from apps.concerts import selectors
from apps.concerts.management.commands.seed_load import LOAD_PASSWORD, load_layout
from apps.concerts.models import Concert, ConcertDate, Inventory, Seat, Venue
from apps.concerts.services import layout_seat_count, validate_layout

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        Venue.objects.count(), Concert.objects.count(), ConcertDate.objects.count(), Seat.objects.count(),
        Inventory.objects.count(), User.objects.count(), WalletTransaction.objects.count(),
        tuple(User.objects.order_by("pk").values_list("balance", flat=True)),
    )  # fmt: skip


def ledger_matches_balances() -> bool:
    for user in User.objects.all():
        ledger = WalletTransaction.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if ledger != user.balance:
            return False
    return True


class TestSeedDemo:
    def test_loads_a_bookable_catalogue_and_users_once(self):
        call_command("seed_demo", stdout=StringIO())
        first = snapshot()
        assert first[:3] == (2, 3, 5)
        assert Seat.objects.count() == sum(d.total_seats for d in ConcertDate.objects.all()) == first[3]
        assert User.objects.filter(role="STAFF").exists() and ledger_matches_balances()
        now = timezone.now()
        open_now = [d for d in ConcertDate.objects.select_related("inventory") if selectors.is_available(d, now)]
        assert len(open_now) == 5 and all(d.starts_at > now for d in open_now)
        call_command("seed_demo", stdout=StringIO())
        assert snapshot() == first
        call_command("check_invariants", stdout=StringIO())

    def test_prints_the_demo_logins(self):
        out = StringIO()
        call_command("seed_demo", stdout=out)
        assert "@" in out.getvalue() and "(5 new concert dates)" in out.getvalue()
        again = StringIO()
        call_command("seed_demo", stdout=again)
        assert "(0 new concert dates)" in again.getvalue()


class TestSeedLoad:
    def test_is_resumable_and_idempotent(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "250", "--users", "30", stdout=StringIO())
        call_command("seed_load", "--dates", "2", "--seats-per-date", "250", "--users", "45", stdout=StringIO())
        concert = Concert.objects.get(name="Load Test")
        assert concert.venue.seat_count == 250
        assert concert.dates.count() == 2 and Seat.objects.filter(concert_date__concert=concert).count() == 500
        assert set(Inventory.objects.filter(concert=concert).values_list("remaining", flat=True)) == {250}
        assert User.objects.filter(email__startswith="load").count() == 45
        before = snapshot()
        call_command("seed_load", "--dates", "2", "--seats-per-date", "250", "--users", "45", stdout=StringIO())
        assert snapshot() == before
        call_command("check_invariants", stdout=StringIO())

    def test_users_can_log_in_and_pay(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "10", "--users", "3", "--balance", "500.00",
                     stdout=StringIO())  # fmt: skip
        users = list(User.objects.filter(email__startswith="load").order_by("email"))
        assert [u.email for u in users] == ["load0@example.com", "load1@example.com", "load2@example.com"]
        assert all(check_password(LOAD_PASSWORD, u.password) for u in users)
        assert {u.balance for u in users} == {Decimal("500.00")}
        assert ledger_matches_balances()
        assert WalletTransaction.objects.filter(user__in=users, kind="CHARGE").count() == 3

    def test_uneven_seat_counts_get_a_balcony(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "250", "--users", "0", stdout=StringIO())
        date = ConcertDate.objects.get(concert__name="Load Test")
        sections = dict(date.seats.values("section").annotate(n=Count("id")).values_list("section", "n"))
        assert sections == {"Floor": 200, "Balcony": 50}

    def test_refuses_a_different_size_for_an_existing_concert(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "10", "--users", "0", stdout=StringIO())
        with pytest.raises(CommandError):
            call_command("seed_load", "--dates", "1", "--seats-per-date", "20", "--users", "0", stdout=StringIO())
        with pytest.raises(CommandError):
            call_command("seed_load", "--dates", "1", "--seats-per-date", "0", stdout=StringIO())


@pytest.mark.parametrize("seats", [1, 99, 250, 20_000, 50_000, 50_050, 100_000])
def test_load_layouts_are_valid_for_any_size(seats):
    layout = load_layout(seats)
    assert validate_layout(layout) and layout_seat_count(layout) == seats
