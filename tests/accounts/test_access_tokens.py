"""Access tokens verified once per process (apps/accounts/access_tokens.py): a token seen again skips the
signature check, and nothing a client can do with that changes an answer: an expired, tampered or
revoked token is refused as before, on the database-backed and the claims-only authentication alike."""

from __future__ import annotations

import time

import jwt
import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts import access_tokens
from tests.factories import UserFactory, make_date
from tests.helpers import assert_error, login_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Each full check of a token's signature and claims (PyJWT's decode), by the token it checked."""
    checked: list[str] = []
    real = jwt.decode

    def counted(token, *args, **kwargs):
        checked.append(token if isinstance(token, str) else token.decode())
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return checked


def test_a_token_is_checked_in_full_once_then_remembered(user, decodes):
    client = login_client(user)
    for _ in range(3):
        assert client.get("/api/users/me").json()["id"] == user.pk
    assert decodes == [client.tokens["access"]]
    other = login_client(UserFactory())  # another token is checked on its own
    assert other.get("/api/users/me").status_code == 200
    assert decodes == [client.tokens["access"], other.tokens["access"]]


def test_the_remembered_payload_is_the_callers_own_copy(user):
    token = login_client(user).tokens["access"]
    first = access_tokens.RememberedAccessToken(token)
    first.payload["user_id"] = "999999"  # a caller that writes to its payload changes nobody else's
    assert access_tokens.RememberedAccessToken(token).payload["user_id"] == str(user.pk)


def test_a_tampered_token_is_refused_after_the_genuine_one_was_remembered(user, decodes):
    client = login_client(user)
    assert client.get("/api/users/me").status_code == 200
    header, payload, signature = client.tokens["access"].split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    for _ in range(2):  # never kept: checked in full each time
        assert_error(client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    assert decodes.count(forged) == 2


def test_a_remembered_token_is_refused_once_it_expires(user, settings, decodes):
    date = make_date()
    line = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    client = login_client(user)
    # Expiry is a whole second: two seconds ahead leaves at least one for the two accepted requests
    # (one second ahead could be a few milliseconds, and a slow machine saw it expire before the first).
    token = AccessToken.for_user(user)
    token["exp"] = int(time.time()) + 2
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/users/me").status_code == 200
    assert client.get("/api/queue/status", line).status_code == 200
    time.sleep(max(0.0, token["exp"] - time.time()) + 0.2)
    expired = assert_error(client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    # The answer an expired token always had (PyJWT's refusal, reached again past the cache).
    plain = login_client(user)
    plain.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    access_tokens.remembering_backend().forget()
    refused = assert_error(plain.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    assert (refused["message"], refused["details"]) == (expired["message"], expired["details"])
    assert_error(client.get("/api/queue/status", line), 401, "NOT_AUTHENTICATED")


def test_a_remembered_token_is_refused_after_logout_on_every_path(user, decodes):
    """Revocation is checked on every request, whatever the cache holds (users/me loads the user row;
    the queue's status poll trusts the claims)."""
    date = make_date()
    line = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    client = login_client(user)
    assert client.get("/api/users/me").status_code == 200
    assert client.get("/api/queue/status", line).status_code == 200
    assert client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json").status_code == 204
    assert_error(client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")
    assert_error(client.get("/api/queue/status", line), 401, "NOT_AUTHENTICATED")
    assert decodes.count(client.tokens["access"]) == 1


def test_the_oldest_token_goes_first_and_none_are_kept_with_size_zero(settings, decodes):
    settings.VERIFIED_ACCESS_TOKENS_KEPT = 2
    access_tokens.reset_remembering_backend()
    clients = [login_client(UserFactory()) for _ in range(3)]
    for client in (*clients, clients[2], clients[0]):  # the third pushed the first out: checked again
        assert client.get("/api/users/me").status_code == 200
    owner = {client.tokens["access"]: n for n, client in enumerate(clients)}
    assert [owner[token] for token in decodes] == [0, 1, 2, 0]
    settings.VERIFIED_ACCESS_TOKENS_KEPT = 0
    access_tokens.reset_remembering_backend()
    decodes.clear()
    for _ in range(2):
        assert clients[1].get("/api/users/me").status_code == 200
    assert decodes == [clients[1].tokens["access"]] * 2


def test_a_refresh_checks_its_token_once_and_a_replay_is_still_refused(user, api_client, decodes):
    """The per-user rate limit and the rotation read the same refresh token: one full check. A kept
    refresh token used again is the session row's to refuse (a replay ends the session)."""
    tokens = login_client(user).tokens
    rotated = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert decodes.count(tokens["refresh"]) == 1
    assert_error(
        api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json"), 401, "NOT_AUTHENTICATED"
    )
    assert_error(  # the replay ended the session: its newest token too
        api_client.post("/api/auth/refresh", {"refresh": rotated.json()["refresh"]}, format="json"),
        401,
        "NOT_AUTHENTICATED",
    )
