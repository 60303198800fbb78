"""Hostile and malformed input: every answer is a clean 4xx in the error shape, nothing changes."""

import json

import pytest

from apps.accounts.models import User, WalletTransaction
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def post_raw(client, path, raw: str | bytes):
    return client.post(path, data=raw, content_type="application/json")


def test_oversized_body_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"email": "a@example.com", "password": "x" * 5000, "name": "n"})
    assert_error(post_raw(api_client, "/api/auth/signup", body), 413, "PAYLOAD_TOO_LARGE")
    assert not User.objects.exists()


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deeply_nested_json_is_a_validation_error(api_client, depth):
    body = '{"email": ' + "[" * depth + "]" * depth + ', "password": "x"}'
    response = post_raw(api_client, "/api/auth/login", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        '{"amount": NaN}',
        '{"amount": Infinity}',
        b"\xff\xfe\x00garbage",
        "",
        "null",
        '"just a string"',
        "[1, 2, 3]",
    ],
)
def test_malformed_charge_bodies_are_400(auth_client, user, raw):
    assert_error(post_raw(auth_client, "/api/users/me/balance/charge", raw), 400, "VALIDATION_ERROR")
    assert not WalletTransaction.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        "Robert'); DROP TABLE users;--",
        "' OR '1'='1",
        "名前 — ünïcødé ✓ 🎫",
        "tab\tand\nnewline",
        "\u202eRTL override",
    ],
)
def test_names_with_sql_ish_and_unicode_text_are_stored_verbatim(api_client, value):
    response = api_client.post(
        "/api/auth/signup", {"email": "odd@example.com", "password": "s3cure-enough-pw", "name": value}, format="json"
    )
    assert response.status_code == 201, response.content
    assert User.objects.get().name == value


def test_nul_character_is_refused(api_client):
    response = api_client.post(
        "/api/auth/signup",
        {"email": "nul@example.com", "password": "s3cure-enough-pw", "name": "a\x00b"},
        format="json",
    )
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("field", ["email", "password", "name"])
@pytest.mark.parametrize("bad", [123, True, None, [], {"a": 1}, "x" * 10_000])
def test_wrong_types_in_every_signup_field(api_client, field, bad):
    body = {"email": "t@example.com", "password": "s3cure-enough-pw", "name": "T"} | {field: bad}
    response = api_client.post("/api/auth/signup", body, format="json")
    if response.status_code == 201:  # a number is a valid name/password once coerced to text
        assert field in ("name", "password") and isinstance(bad, int)
        return
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("path", ["/api/reservations/-1", "/api/reservations/1.5", "/api/reservations/" + "9" * 40])
def test_odd_ids_in_paths_are_not_found(auth_client, path):
    assert_error(auth_client.get(path), 404, "NOT_FOUND")


def test_forged_and_unsigned_jwts_are_refused(api_client, user):
    import base64

    from tests.helpers import login_client

    access = login_client(user).tokens["access"]
    header, payload, signature = access.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{none_header}.{payload}."
    for token in (forged, unsigned, access + "x", "Bearer"):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert_error(api_client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")


def test_expired_access_token_is_refused(api_client, user, settings):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(api_client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")


def test_me_cannot_be_used_for_mass_assignment(auth_client, user):
    for method in (auth_client.put, auth_client.patch):
        response = method("/api/users/me", {"role": "STAFF", "balance": "999", "email_verified": True}, format="json")
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
    user.refresh_from_db()
    assert (user.role, user.balance, user.email_verified) == ("USER", 0, False)


def test_lone_surrogates_are_a_validation_error(api_client):
    response = post_raw(api_client, "/api/auth/login", '{"email": "a@example.com", "password": "\\ud800"}')
    assert_error(response, 400, "VALIDATION_ERROR")
