import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import assert_error, login_client

pytestmark = pytest.mark.django_db


def signup(client: APIClient, **overrides):
    body = {"email": "Alice@Example.com", "password": "s3cure-enough-pw", "name": "Alice"} | overrides
    return client.post("/api/auth/signup", body, format="json")


def test_signup_creates_user_and_sends_verification_mail(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(api_client, phone_number="+82 10-1234-5678", address="Seoul")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {"id": body["id"], "email": "alice@example.com", "name": "Alice", "role": "USER"}
    user = User.objects.get(pk=body["id"])
    assert user.check_password("s3cure-enough-pw")
    assert user.password != "s3cure-enough-pw"
    assert not user.email_verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]


def test_signup_duplicate_email_any_case_is_email_taken(api_client):
    assert signup(api_client).status_code == 201
    assert_error(signup(api_client, email="ALICE@example.COM"), 409, "EMAIL_TAKEN")
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "123"}, "password"),
        ({"password": "password"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"phone_number": "call me maybe"}, "phone_number"),
    ],
)
def test_signup_rejects_bad_input(api_client, overrides, field):
    error = assert_error(signup(api_client, **overrides), 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert User.objects.count() == 0


def test_signup_reports_every_fields_errors_at_once(api_client):
    response = signup(api_client, email="not-an-email", password="123", name="", phone_number="call me maybe")
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert set(error["details"]) == {"email", "password", "name", "phone_number"}
    assert len(error["details"]["password"]) >= 2  # too short and entirely numeric: every reason
    assert not User.objects.exists()


def test_signup_password_similar_to_the_email_is_refused(api_client):
    error = assert_error(signup(api_client, password="alice@example.com"), 400, "VALIDATION_ERROR")
    assert set(error["details"]) == {"password"}


def test_signup_cannot_set_role_or_balance(api_client):
    response = signup(api_client, role="STAFF", balance="1000000.00", email_verified=True)
    assert response.status_code == 201
    user = User.objects.get()
    assert (user.role, user.balance, user.email_verified) == ("USER", 0, False)


def test_login_returns_token_pair_and_me_works(api_client, user):
    response = api_client.post(
        "/api/auth/login", {"email": user.email.upper(), "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api_client.get("/api/users/me")
    assert me.status_code == 200
    assert me.json() | {"created_at": None} == {
        "id": user.id, "email": user.email, "name": user.name, "role": "USER", "phone_number": "",
        "address": "", "balance": "0.00", "email_verified": False, "created_at": None,
    }  # fmt: skip


@pytest.mark.parametrize("email", ["nobody@example.com", None])
def test_login_failure_does_not_reveal_whether_email_exists(api_client, user, email):
    body = {"email": email or user.email, "password": "wrong-password"}
    error = assert_error(api_client.post("/api/auth/login", body, format="json"), 401, "INVALID_CREDENTIALS")
    assert error["message"] == "E-mail or password is wrong."


def test_login_missing_fields_is_validation_error(api_client):
    assert_error(api_client.post("/api/auth/login", {}, format="json"), 400, "VALIDATION_ERROR")


def test_me_requires_a_token(api_client):
    assert_error(api_client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_error(api_client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")


def test_refresh_rotates_and_old_refresh_token_stops_working(api_client, user):
    client = login_client(user)
    first = client.tokens["refresh"]
    response = api_client.post("/api/auth/refresh", {"refresh": first}, format="json")
    assert response.status_code == 200
    rotated = response.json()
    assert set(rotated) == {"access", "refresh"} and rotated["refresh"] != first
    assert api_client.post("/api/auth/refresh", {"refresh": rotated["refresh"]}, format="json").status_code == 200
    # A replay of a rotated token is refused (and ends the session: tests/accounts/test_sessions.py).
    assert_error(api_client.post("/api/auth/refresh", {"refresh": first}, format="json"), 401, "NOT_AUTHENTICATED")


def test_refresh_rejects_an_access_token_and_garbage(api_client, user):
    client = login_client(user)
    assert_error(
        api_client.post("/api/auth/refresh", {"refresh": client.tokens["access"]}, format="json"),
        401,
        "NOT_AUTHENTICATED",
    )
    assert_error(api_client.post("/api/auth/refresh", {"refresh": "x"}, format="json"), 401, "NOT_AUTHENTICATED")
    assert_error(api_client.post("/api/auth/refresh", {}, format="json"), 400, "VALIDATION_ERROR")


def test_logout_kills_access_and_refresh_at_once(api_client, user):
    client = login_client(user)
    assert client.get("/api/users/me").status_code == 200
    response = client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert_error(client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    assert_error(
        api_client.post("/api/auth/refresh", {"refresh": client.tokens["refresh"]}, format="json"),
        401,
        "NOT_AUTHENTICATED",
    )


def test_logout_with_another_users_refresh_token_changes_nothing(user):
    other = login_client(UserFactory())
    client = login_client(user)
    error = assert_error(
        client.post("/api/auth/logout", {"refresh": other.tokens["refresh"]}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "refresh" in error["details"]
    assert client.get("/api/users/me").status_code == 200
    assert other.post("/api/auth/refresh", {"refresh": other.tokens["refresh"]}, format="json").status_code == 200


def test_logout_needs_authentication(api_client, user):
    tokens = login_client(user).tokens
    assert_error(
        api_client.post("/api/auth/logout", {"refresh": tokens["refresh"]}, format="json"), 401, "NOT_AUTHENTICATED"
    )


def test_verify_email_with_the_mailed_token(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signup(api_client)
    token = re.search(r"^(\S+:\S+:\S+)$", mail.outbox[0].body, re.M).group(1)
    response = api_client.post("/api/auth/verify-email", {"token": token}, format="json")
    assert response.status_code == 200
    assert response.json() == {"email_verified": True}
    assert User.objects.get().email_verified


def test_verify_email_rejects_bad_and_expired_tokens(api_client, settings, user):
    from apps.accounts.tokens import make_email_verification_token

    assert_error(api_client.post("/api/auth/verify-email", {"token": "forged"}, format="json"), 400, "VALIDATION_ERROR")
    settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS = -1
    token = make_email_verification_token(user=user)
    assert_error(api_client.post("/api/auth/verify-email", {"token": token}, format="json"), 400, "VALIDATION_ERROR")
    user.refresh_from_db()
    assert not user.email_verified


def test_login_is_throttled_with_retry_after(api_client, user, settings):
    from rest_framework.settings import api_settings

    rates = dict(api_settings.DEFAULT_THROTTLE_RATES, login="3/min")
    settings.REST_FRAMEWORK = dict(settings.REST_FRAMEWORK, DEFAULT_THROTTLE_RATES=rates)
    body = {"email": user.email, "password": "wrong"}
    for _ in range(3):
        assert api_client.post("/api/auth/login", body, format="json").status_code == 401
    response = api_client.post("/api/auth/login", body, format="json")
    assert_error(response, 429, "THROTTLED")
    assert int(response["Retry-After"]) >= 1


def test_a_failing_mail_server_does_not_fail_signup(api_client, monkeypatch, django_capture_on_commit_callbacks):
    from apps.accounts import tasks
    from apps.common import mail

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(mail, "send_mail", refuse)
    monkeypatch.setattr(tasks.send_verification_email, "max_retries", 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(api_client)
    assert response.status_code == 201
    assert User.objects.filter(email="alice@example.com").exists()
