"""Rate limits on login, signup, queue entry, hold and payment: per user and per IP, 429 THROTTLED."""

import pytest
from rest_framework.settings import api_settings

from tests.conftest import assert_error, login_client
from tests.factories import UserFactory
from tests.reservations.conftest import make_date, queue_token, seat_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**overrides: str) -> None:
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK, DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, **overrides)
        )

    return set_rates


def test_signup_is_limited_per_ip(api_client, rates):
    rates(signup="2/min")
    for n in range(2):
        body = {"email": f"s{n}@example.com", "password": "s3cure-enough-pw", "name": "S"}
        assert api_client.post("/api/auth/signup", body, format="json").status_code == 201
    response = api_client.post(
        "/api/auth/signup", {"email": "s9@example.com", "password": "s3cure-enough-pw", "name": "S"}, format="json"
    )
    assert_error(response, 429, "THROTTLED")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_queue_entry_is_limited_per_user(rates):
    rates(queue_enter="2/min")
    date = make_date()
    client = login_client(UserFactory())
    body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    for _ in range(2):
        assert client.post("/api/queue", body, format="json").status_code in (200, 201)
    assert_error(client.post("/api/queue", body, format="json"), 429, "THROTTLED")
    # Another user from the same address is not held back by the per-user limit.
    assert login_client(UserFactory()).post("/api/queue", body, format="json").status_code in (200, 201)


def test_holds_are_limited_per_ip_across_accounts(rates):
    rates(hold="100/min", hold_ip="3/min")
    date = make_date()
    ids = seat_ids(date)
    codes = []
    for n in range(4):
        user = UserFactory()
        client = login_client(user)
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
        )
        codes.append(
            client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": [ids[n]]}, format="json")
        )
    assert [r.status_code for r in codes[:3]] == [201, 201, 201]
    assert_error(codes[3], 429, "THROTTLED")


def test_payments_are_limited_per_user(rates):
    rates(pay="1/min")
    date = make_date()
    user = UserFactory()
    client = login_client(user)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
    )
    reservation_id = client.post(
        "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json"
    ).json()["id"]
    assert client.post("/api/payments", {"reservation_id": reservation_id}, format="json").status_code == 409
    assert_error(client.post("/api/payments", {"reservation_id": reservation_id}, format="json"), 429, "THROTTLED")
