"""Password hashing: Argon2id at OWASP's parameters, old PBKDF2 hashes upgraded on the next login,
and the host-wide cap on concurrent hashing that keeps a login crowd off the queue endpoints' workers."""

import threading

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connections
from django.test import override_settings
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from apps.accounts.hashing_slots import hashing_slot
from apps.accounts.models import User
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
ARGON2ID_OWASP = "argon2$argon2id$v=19$m=19456,t=2,p=1$"


def login(api_client, user):
    return api_client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")


@pytest.mark.usefixtures("production_hashers")
class TestHasher:
    def test_a_new_password_is_hashed_with_argon2id_at_owasp_parameters(self, api_client):
        response = api_client.post(
            "/api/auth/signup", {"email": "new@example.com", "password": PASSWORD, "name": "New"}, format="json"
        )
        assert response.status_code == 201
        stored = User.objects.get(email="new@example.com").password
        assert stored.startswith(ARGON2ID_OWASP)

    def test_a_pbkdf2_hash_from_before_is_upgraded_on_the_next_login(self, api_client):
        user = UserFactory()
        old = make_password(PASSWORD, hasher="pbkdf2_sha256")  # what every account had before
        type(user).objects.filter(pk=user.pk).update(password=old)
        assert login(api_client, user).status_code == 200
        user.refresh_from_db()
        assert user.password.startswith(ARGON2ID_OWASP)
        assert login(api_client, user).status_code == 200  # and the new hash verifies

    def test_a_wrong_password_does_not_touch_the_stored_hash(self, api_client):
        user = UserFactory()
        old = make_password(PASSWORD, hasher="pbkdf2_sha256")
        type(user).objects.filter(pk=user.pk).update(password=old)
        response = api_client.post("/api/auth/login", {"email": user.email, "password": "wrong-9"}, format="json")
        assert_error(response, 401, "INVALID_CREDENTIALS")
        user.refresh_from_db()
        assert user.password == old


class TestHashingSlots:
    def test_a_login_still_without_a_slot_after_the_wait_is_429_and_not_charged(self, api_client, tmp_path, settings):
        user = UserFactory()
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK,
            DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, login="1/min", signup="1/min"),
        )
        with override_settings(
            PASSWORD_HASHING_CONCURRENCY=1, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path), PASSWORD_HASHING_WAIT_SECONDS=0.05
        ):
            with hashing_slot():  # another worker of this machine is hashing all along
                for _ in range(3):
                    response = login(api_client, user)
                    assert_error(response, 429, "THROTTLED")
                    assert response["Retry-After"] == "1"
                signup = {"email": "other@example.com", "password": PASSWORD, "name": "Other"}
                for _ in range(2):
                    assert_error(api_client.post("/api/auth/signup", signup, format="json"), 429, "THROTTLED")
            # None of the refused tries used the address's one login (and one sign-up) a minute.
            assert login(api_client, user).status_code == 200
            assert api_client.post("/api/auth/signup", signup, format="json").status_code == 201

    def test_slots_are_shared_and_released(self, tmp_path):
        with override_settings(
            PASSWORD_HASHING_CONCURRENCY=2, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path), PASSWORD_HASHING_WAIT_SECONDS=0
        ):
            with hashing_slot(), hashing_slot(), pytest.raises(Throttled), hashing_slot():
                pass
            with hashing_slot(), hashing_slot():  # both free again
                pass

    def test_a_login_waits_for_the_slot_another_process_frees(self, tmp_path):
        with override_settings(
            PASSWORD_HASHING_CONCURRENCY=1, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path), PASSWORD_HASHING_WAIT_SECONDS=30
        ):
            held, release, got = threading.Event(), threading.Event(), threading.Event()

            def other_worker():
                with hashing_slot():
                    held.set()
                    release.wait(10)

            thread = threading.Thread(target=other_worker)
            thread.start()
            assert held.wait(10)

            def waiting_login():
                with hashing_slot():
                    got.set()

            waiter = threading.Thread(target=waiting_login)
            waiter.start()
            assert not got.wait(0.3)  # still waiting while the slot is held
            release.set()
            assert got.wait(10)  # and served once it is free
            thread.join(10)
            waiter.join(10)


@pytest.mark.django_db(transaction=True)
def test_eight_logins_at_once_on_one_slot_are_all_served(tmp_path):
    """The burst of the issue: eight real logins at the same moment on a host with one hashing slot
    queue for it and all succeed (a wait bound generous for a busy test machine)."""
    users = [UserFactory() for _ in range(8)]
    barrier = threading.Barrier(len(users))
    statuses = []

    def log_in(user):
        try:
            barrier.wait(10)
            statuses.append(login(APIClient(), user).status_code)
        finally:
            connections.close_all()

    with override_settings(
        PASSWORD_HASHING_CONCURRENCY=1, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path), PASSWORD_HASHING_WAIT_SECONDS=60
    ):
        threads = [threading.Thread(target=log_in, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert statuses == [200] * 8
