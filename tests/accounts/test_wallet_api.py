from decimal import Decimal

import pytest

from apps.accounts import services
from apps.accounts.models import WalletTransaction
from tests.factories import UserFactory
from tests.helpers import assert_error, debit, login_client

pytestmark = pytest.mark.django_db


def test_balance_starts_at_zero(auth_client):
    response = auth_client.get("/api/users/me/balance")
    assert response.status_code == 200
    assert response.json() == {"balance": "0.00"}


@pytest.mark.parametrize("amount", ["50000.00", 50000, "0.01", "10000000"])
def test_charge_adds_money_and_writes_the_ledger(auth_client, user, amount):
    response = auth_client.post("/api/users/me/balance/charge", {"amount": amount}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    expected = Decimal(str(amount)).quantize(Decimal("0.01"))
    assert body["balance"] == str(expected)
    entry = WalletTransaction.objects.get(pk=body["transaction_id"])
    assert (entry.kind, entry.amount, entry.balance_after, entry.user_id) == ("CHARGE", expected, expected, user.id)


@pytest.mark.parametrize(
    "amount", ["0", 0, "-5", -1, "NaN", "Infinity", "1.001", "abc", "", None, True, [], {}, "10000000.01", "1e400"]
)
def test_charge_rejects_bad_amounts_and_changes_nothing(auth_client, user, amount):
    error = assert_error(
        auth_client.post("/api/users/me/balance/charge", {"amount": amount}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "amount" in error["details"]
    user.refresh_from_db()
    assert user.balance == 0
    assert not WalletTransaction.objects.exists()


def test_charge_rejects_malformed_json(auth_client):
    response = auth_client.post("/api/users/me/balance/charge", data="{not json", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_wallet_endpoints_need_authentication(api_client):
    assert_error(api_client.get("/api/users/me/balance"), 401, "NOT_AUTHENTICATED")
    assert_error(
        api_client.post("/api/users/me/balance/charge", {"amount": "1"}, format="json"), 401, "NOT_AUTHENTICATED"
    )
    assert_error(api_client.get("/api/users/me/balance/transactions"), 401, "NOT_AUTHENTICATED")


def test_transactions_are_paginated_newest_first_and_only_mine(auth_client, user, django_assert_max_num_queries):
    for amount in ("10.00", "20.00", "30.00"):
        services.charge(user=user, amount=Decimal(amount))
    debit(user=user, amount=Decimal("15.00"), reference="reservation:1")
    services.charge(user=UserFactory(), amount=Decimal("99.00"))
    with django_assert_max_num_queries(4):
        response = auth_client.get("/api/users/me/balance/transactions?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and body["next"] and body["previous"] is None
    first = body["results"][0]
    assert set(first) == {"id", "kind", "amount", "balance_after", "created_at", "reference"}
    assert (first["kind"], first["amount"], first["balance_after"]) == ("PAYMENT", "-15.00", "45.00")
    page2 = auth_client.get("/api/users/me/balance/transactions?page_size=2&page=2").json()
    assert [entry["amount"] for entry in page2["results"]] == ["20.00", "10.00"]


@pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=-1", "page=99999999999999"])
def test_bad_page_parameters_are_validation_errors(auth_client, query):
    assert_error(auth_client.get(f"/api/users/me/balance/transactions?{query}"), 400, "VALIDATION_ERROR")


def test_page_past_the_end_is_not_found(auth_client):
    assert_error(auth_client.get("/api/users/me/balance/transactions?page=5"), 404, "NOT_FOUND")


def test_huge_page_size_is_capped(auth_client, user):
    services.charge(user=user, amount=Decimal("1"))
    response = auth_client.get("/api/users/me/balance/transactions?page_size=100000")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_debit_beyond_balance_is_insufficient_and_changes_nothing(user):
    services.charge(user=user, amount=Decimal("10.00"))
    with pytest.raises(services.Conflict) as exc:
        debit(user=user, amount=Decimal("10.01"), reference="r")
    assert exc.value.code == "INSUFFICIENT_BALANCE"
    user.refresh_from_db()
    assert user.balance == Decimal("10.00")
    assert WalletTransaction.objects.count() == 1


def test_refund_adds_a_refund_entry(user):
    services.charge(user=user, amount=Decimal("10.00"))
    debit(user=user, amount=Decimal("4.00"), reference="reservation:7")
    entry = services.refund(user=user, amount=Decimal("4.00"), reference="reservation:7")
    assert (entry.kind, entry.amount, entry.balance_after) == ("REFUND", Decimal("4.00"), Decimal("10.00"))


class TestIdempotentCharge:
    def test_same_key_same_body_replays_and_charges_once(self, auth_client, user):
        headers = {"HTTP_IDEMPOTENCY_KEY": "charge-1"}
        first = auth_client.post("/api/users/me/balance/charge", {"amount": "100.00"}, format="json", **headers)
        second = auth_client.post("/api/users/me/balance/charge", {"amount": "100.00"}, format="json", **headers)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert second["Idempotent-Replayed"] == "true"
        user.refresh_from_db()
        assert user.balance == Decimal("100.00")
        assert WalletTransaction.objects.count() == 1

    def test_same_key_other_body_is_conflict(self, auth_client, user):
        headers = {"HTTP_IDEMPOTENCY_KEY": "charge-2"}
        auth_client.post("/api/users/me/balance/charge", {"amount": "100.00"}, format="json", **headers)
        response = auth_client.post("/api/users/me/balance/charge", {"amount": "200.00"}, format="json", **headers)
        assert_error(response, 409, "IDEMPOTENCY_CONFLICT")
        user.refresh_from_db()
        assert user.balance == Decimal("100.00")

    def test_keys_are_per_user(self, auth_client, user):
        other = login_client(UserFactory())
        headers = {"HTTP_IDEMPOTENCY_KEY": "shared"}
        assert (
            auth_client.post("/api/users/me/balance/charge", {"amount": "5"}, format="json", **headers).status_code
            == 200
        )
        assert other.post("/api/users/me/balance/charge", {"amount": "7"}, format="json", **headers).status_code == 200
        assert WalletTransaction.objects.count() == 2

    def test_failed_request_stores_nothing_so_a_retry_runs(self, auth_client, user):
        headers = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
        bad = auth_client.post("/api/users/me/balance/charge", {"amount": "0"}, format="json", **headers)
        assert bad.status_code == 400
        good = auth_client.post("/api/users/me/balance/charge", {"amount": "0"}, format="json", **headers)
        assert good.status_code == 400  # validation runs before the key is taken

    def test_overlong_key_is_rejected(self, auth_client):
        response = auth_client.post(
            "/api/users/me/balance/charge", {"amount": "5"}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
        )
        assert_error(response, 400, "VALIDATION_ERROR")


def charge_raw(client, raw: str):
    return client.post("/api/users/me/balance/charge", data=raw, content_type="application/json")


@pytest.mark.parametrize(
    "raw",
    [
        '{"amount": "\u0665"}',  # an Arabic-Indic five: Decimal() reads it as 5
        '{"amount": "1_000"}',  # Decimal() reads 1000
        '{"amount": " 5"}',
        '{"amount": "+5"}',
        '{"amount": "5e2"}',
        '{"amount": "5."}',
        '{"amount": ".5"}',
        '{"amount": "0x10"}',
        '{"amount": "-Infinity"}',
        '{"amount": 1.0000000000000001}',  # a float reads 1.0 and would charge 1.00
        '{"amount": 10.005}',
        '{"amount": 1e-7}',
        '{"amount": 99999999999999999999.5}',
    ],
)
def test_charge_accepts_only_plain_decimals_with_two_places(auth_client, user, raw):
    error = assert_error(charge_raw(auth_client, raw), 400, "VALIDATION_ERROR")
    assert "amount" in error["details"]
    assert not WalletTransaction.objects.exists()


@pytest.mark.parametrize(
    ("raw", "charged"),
    [
        ('{"amount": 12.5}', "12.50"),
        ('{"amount": 0.1}', "0.10"),
        ('{"amount": 12.34}', "12.34"),
        ('{"amount": 1e2}', "100.00"),
        ('{"amount": 7}', "7.00"),
        ('{"amount": "12.30"}', "12.30"),
    ],
)
def test_json_numbers_are_read_as_exact_decimals(auth_client, user, raw, charged):
    response = charge_raw(auth_client, raw)
    assert response.status_code == 200, response.content
    assert response.json()["balance"] == charged
    assert WalletTransaction.objects.get().amount == Decimal(charged)
