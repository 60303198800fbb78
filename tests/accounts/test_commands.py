"""The accounts' operator commands: the demo logins for `make run`, bulk buyers for load tests."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from apps.accounts.demo import DEMO_BUYERS, DEMO_STAFF
from apps.accounts.management.commands.seed_load_users import LOAD_PASSWORD
from apps.accounts.models import User, WalletTransaction
from tests.helpers import login_client

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        User.objects.count(), WalletTransaction.objects.count(),
        tuple(User.objects.order_by("pk").values_list("balance", flat=True)),
    )  # fmt: skip


def ledger_matches_balances() -> bool:
    ledgers = dict(
        WalletTransaction.objects.values("user_id").annotate(total=Sum("amount")).values_list("user_id", "total")
    )
    return all(ledgers.get(pk, Decimal(0)) == balance for pk, balance in User.objects.values_list("pk", "balance"))


class TestSeedDemoUsers:
    def test_creates_the_logins_once_and_prints_them(self, settings):
        settings.DEBUG = True
        out = StringIO()
        call_command("seed_demo_users", stdout=out)
        first = snapshot()
        assert User.objects.filter(email=DEMO_STAFF["email"], role="STAFF").exists()
        assert User.objects.filter(email__in=[b["email"] for b in DEMO_BUYERS], balance__gt=0).count() == 3
        assert ledger_matches_balances()
        assert all(login["email"] in out.getvalue() for login in (DEMO_STAFF, *DEMO_BUYERS))
        call_command("seed_demo_users", stdout=StringIO())
        assert snapshot() == first


class TestSeedLoadUsers:
    def test_is_resumable_and_idempotent(self):
        call_command("seed_load_users", "--users", "30", stdout=StringIO())
        call_command("seed_load_users", "--users", "45", stdout=StringIO())
        assert User.objects.filter(email__startswith="load").count() == 45
        before = snapshot()
        call_command("seed_load_users", "--users", "45", stdout=StringIO())
        assert snapshot() == before
        assert ledger_matches_balances()

    def test_users_can_log_in_with_a_charged_wallet(self):
        call_command("seed_load_users", "--users", "3", "--balance", "500.00", stdout=StringIO())
        users = list(User.objects.filter(email__startswith="load").order_by("email"))
        assert [u.email for u in users] == ["load0@example.com", "load1@example.com", "load2@example.com"]
        assert all(check_password(LOAD_PASSWORD, u.password) for u in users)
        assert {u.balance for u in users} == {Decimal("500.00")}
        assert WalletTransaction.objects.filter(user__in=users, kind="CHARGE").count() == 3
        assert ledger_matches_balances()
        assert login_client(users[0]).get("/api/users/me/balance").json()["balance"] == "500.00"

    def test_refuses_negative_counts(self):
        with pytest.raises(CommandError):
            call_command("seed_load_users", "--users", "-1", stdout=StringIO())
