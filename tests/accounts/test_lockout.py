"""Per-account lockout: after LOGIN_LOCKOUT_FAILURES failed logins for one e-mail, its logins are 429
THROTTLED with Retry-After from any address, without hashing; other accounts are not affected."""

import pytest
from rest_framework.test import APIClient

from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def lockout(settings):
    settings.LOGIN_LOCKOUT_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600


def login(email: str, password: str, address: str = "192.0.2.1"):
    return APIClient(REMOTE_ADDR=address).post("/api/auth/login", {"email": email, "password": password}, format="json")


def test_repeated_failures_lock_the_account_from_every_address(monkeypatch):
    from apps.accounts import services

    user = UserFactory()
    for n in range(3):
        assert_error(login(user.email, "wrong-guess", f"198.51.100.{n}"), 401, "INVALID_CREDENTIALS")
    hashed = []
    monkeypatch.setattr(services, "authenticate", lambda **kwargs: hashed.append(kwargs))
    for address in ("198.51.100.9", "203.0.113.5"):
        response = login(user.email.upper(), DEFAULT_PASSWORD, address)  # the right password, any case
        assert_error(response, 429, "THROTTLED")
        assert 500 <= int(response["Retry-After"]) <= 600
    assert hashed == []  # a locked account costs no password hashing
    monkeypatch.undo()
    assert login(UserFactory().email, DEFAULT_PASSWORD).status_code == 200  # others log in


def test_a_successful_login_clears_the_failures():
    user = UserFactory()
    for _ in range(2):
        assert_error(login(user.email, "wrong-guess"), 401, "INVALID_CREDENTIALS")
    assert login(user.email, DEFAULT_PASSWORD).status_code == 200
    for _ in range(2):
        assert_error(login(user.email, "wrong-guess"), 401, "INVALID_CREDENTIALS")
    assert login(user.email, DEFAULT_PASSWORD).status_code == 200


def test_an_unknown_e_mail_is_counted_alike():
    for _ in range(3):
        assert_error(login("nobody@example.com", "wrong-guess"), 401, "INVALID_CREDENTIALS")
    assert_error(login("nobody@example.com", "wrong-guess"), 429, "THROTTLED")
