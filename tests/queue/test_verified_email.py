"""REQUIRE_VERIFIED_EMAIL: queue entry by an account whose e-mail is not verified is 403
EMAIL_NOT_VERIFIED, decided from the access token's claims (no database read on the entry path); a
buyer who verifies refreshes the token and gets in."""

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.tokens import make_email_verification_token
from tests.factories import UserFactory
from tests.helpers import assert_error, login_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def required(settings):
    settings.REQUIRE_VERIFIED_EMAIL = True


def body(date) -> dict:
    return {"concert_id": date.concert_id, "concert_date_id": date.pk}


@pytest.mark.parametrize("path", ["/api/queue", "/api/reservations/token"])
def test_an_unverified_account_cannot_enter_the_queue(date, required, path):
    client = login_client(UserFactory(email_verified=False))
    assert_error(client.post(path, body(date), format="json"), 403, "EMAIL_NOT_VERIFIED")


def test_a_verified_account_enters_without_a_database_read(date, required, django_assert_num_queries):
    login_client(UserFactory(email_verified=True)).post("/api/queue", body(date), format="json")  # the date, cached
    client = login_client(UserFactory(email_verified=True))
    with django_assert_num_queries(0):
        response = client.post("/api/queue", body(date), format="json")
    assert response.status_code == 201


def test_verifying_then_refreshing_the_token_lets_the_buyer_in(date, required):
    user = UserFactory(email_verified=False)
    client = login_client(user)
    assert_error(client.post("/api/queue", body(date), format="json"), 403, "EMAIL_NOT_VERIFIED")
    verified = APIClient().post(
        "/api/auth/verify-email", {"token": make_email_verification_token(user=user)}, format="json"
    )
    assert verified.json() == {"email_verified": True}
    pair = APIClient().post("/api/auth/refresh", {"refresh": client.tokens["refresh"]}, format="json").json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert client.post("/api/queue", body(date), format="json").status_code == 201


def test_a_token_without_the_claim_is_not_verified(date, required):
    user = UserFactory(email_verified=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert_error(client.post("/api/queue", body(date), format="json"), 403, "EMAIL_NOT_VERIFIED")


def test_off_an_unverified_account_enters(date, settings):
    settings.REQUIRE_VERIFIED_EMAIL = False
    client = login_client(UserFactory(email_verified=False))
    assert client.post("/api/queue", body(date), format="json").status_code == 201


def test_on_by_default_in_production_and_off_in_development():
    import os
    import subprocess
    import sys

    code = "import django; django.setup(); from django.conf import settings; print(settings.REQUIRE_VERIFIED_EMAIL)"
    answers = {}
    for debug in ("False", "True"):
        env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "REQUIRE_VERIFIED_EMAIL")}
        env.update(DJANGO_SETTINGS_MODULE="ticketing.settings.base", DEBUG=debug, SECRET_KEY="x" * 60)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        answers[debug] = result.stdout.strip().splitlines()[-1]
    assert answers == {"False": "True", "True": "False"}
