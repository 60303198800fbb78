"""Invariant 3 under real races on MariaDB: balance never negative, always the ledger's sum."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from apps.accounts import services
from apps.accounts.models import User, WalletTransaction
from apps.common.exceptions import Conflict
from tests.factories import UserFactory
from tests.helpers import assert_error, debit, login_client, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def ledger_sum(user: User) -> Decimal:
    return WalletTransaction.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or Decimal("0")


def test_200_concurrent_charges_sum_exactly():
    user = UserFactory()
    results = run_in_threads(200, lambda i: services.charge(user=user, amount=Decimal("1.25")))
    assert not [r for r in results if isinstance(r, BaseException)]
    user.refresh_from_db()
    assert user.balance == Decimal("250.00")
    assert ledger_sum(user) == user.balance
    assert WalletTransaction.objects.filter(user=user).count() == 200
    # balance_after values are a gap-free sequence: each charge saw the one before it.
    afters = sorted(WalletTransaction.objects.filter(user=user).values_list("balance_after", flat=True))
    assert afters == [Decimal("1.25") * n for n in range(1, 201)]


def test_50_debits_against_a_balance_for_10():
    user = UserFactory()
    services.charge(user=user, amount=Decimal("100.00"))
    results = run_in_threads(50, lambda i: debit(user=user, amount=Decimal("10.00"), reference=f"r{i}"))
    successes = [r for r in results if isinstance(r, WalletTransaction)]
    refused = [r for r in results if isinstance(r, Conflict) and r.code == "INSUFFICIENT_BALANCE"]
    assert len(successes) == 10
    assert len(refused) == 40
    user.refresh_from_db()
    assert user.balance == Decimal("0.00")
    assert ledger_sum(user) == user.balance


def test_20_threads_replaying_one_idempotency_key_charge_once():
    user = UserFactory()

    def charge(i: int):
        client = login_client(user)
        return client.post(
            "/api/users/me/balance/charge", {"amount": "42.00"}, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )

    responses = run_in_threads(20, charge)
    assert all(getattr(r, "status_code", None) == 200 for r in responses), responses
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    user.refresh_from_db()
    assert user.balance == Decimal("42.00")
    assert WalletTransaction.objects.filter(user=user).count() == 1


def test_concurrent_refresh_with_one_token_rotates_once():
    from rest_framework.test import APIClient

    user = UserFactory()
    refresh = login_client(user).tokens["refresh"]
    responses = run_in_threads(10, lambda i: APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json"))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, codes
    assert all(code == 401 for code in codes if code != 200), codes
    # The losers replayed a rotated token: the session, the winner's new pair included, is over.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert_error(
        APIClient().post("/api/auth/refresh", {"refresh": winner["refresh"]}, format="json"), 401, "NOT_AUTHENTICATED"
    )
