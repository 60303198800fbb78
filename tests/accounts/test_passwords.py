"""Password hashing: Argon2id at OWASP's parameters, old PBKDF2 hashes upgraded on the next login,
and the host-wide cap on concurrent hashing that keeps a login crowd off the queue endpoints' workers."""

import pytest
from django.contrib.auth.hashers import make_password
from django.test import override_settings
from rest_framework.exceptions import Throttled

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
    def test_a_login_while_every_slot_hashes_is_429_at_once_then_served(self, api_client, tmp_path):
        user = UserFactory()
        with override_settings(PASSWORD_HASHING_CONCURRENCY=1, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path)):
            with hashing_slot():  # another worker of this machine is hashing
                response = login(api_client, user)
                assert_error(response, 429, "THROTTLED")
                assert response["Retry-After"] == "1"
                signup = {"email": "other@example.com", "password": PASSWORD, "name": "Other"}
                assert_error(api_client.post("/api/auth/signup", signup, format="json"), 429, "THROTTLED")
            assert login(api_client, user).status_code == 200

    def test_slots_are_shared_and_released(self, tmp_path):
        with override_settings(PASSWORD_HASHING_CONCURRENCY=2, PASSWORD_HASHING_SLOTS_DIR=str(tmp_path)):
            with hashing_slot(), hashing_slot(), pytest.raises(Throttled), hashing_slot():
                pass
            with hashing_slot(), hashing_slot():  # both free again
                pass
