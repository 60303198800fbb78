"""Sessions end when they must: a replayed refresh token revokes its whole family, logout ends every
token of the session, deactivation ends every token of the user (the database-free queue endpoints
included), and a signed token with claims this service never issues is 401, not 500."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts import revocation, services
from apps.accounts.models import TokenFamily
from apps.common.redis import get_redis
from tests.factories import UserFactory, make_date
from tests.helpers import assert_error, login_client

pytestmark = pytest.mark.django_db


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def refresh(refresh_token: str):
    return APIClient().post("/api/auth/refresh", {"refresh": refresh_token}, format="json")


def me_status(access: str) -> int:
    return bearer(access).get("/api/users/me").status_code


def queue_status(access: str, date) -> int:
    return bearer(access).get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}").status_code


# --- Refresh token reuse ------------------------------------------------------------------------


def test_replaying_a_rotated_refresh_token_revokes_the_whole_family(user):
    first = login_client(user).tokens
    second = refresh(first["refresh"]).json()
    third = refresh(second["refresh"]).json()
    other_session = login_client(user).tokens
    assert me_status(third["access"]) == 200

    # The first refresh token was rotated long ago: someone else holds a copy.
    error = assert_error(refresh(first["refresh"]), 401, "NOT_AUTHENTICATED")
    assert "session" in error["message"]

    # Every token descended from that login is dead: the newest refresh token and every access token.
    assert_error(refresh(third["refresh"]), 401, "NOT_AUTHENTICATED")
    for access in (first["access"], second["access"], third["access"]):
        assert me_status(access) == 401
    # Another login of the same user is another family and goes on working.
    assert me_status(other_session["access"]) == 200
    assert refresh(other_session["refresh"]).status_code == 200


def test_replayed_refresh_token_revokes_the_tokens_the_thief_got(user):
    leaked = login_client(user).tokens["refresh"]
    thief = refresh(leaked).json()  # the thief rotates first
    assert_error(refresh(leaked), 401, "NOT_AUTHENTICATED")  # the owner's client comes back with it
    assert me_status(thief["access"]) == 401
    assert_error(refresh(thief["refresh"]), 401, "NOT_AUTHENTICATED")


def test_revoked_family_is_durable_in_the_database_not_only_in_redis(user):
    first = login_client(user).tokens
    second = refresh(first["refresh"]).json()
    refresh(first["refresh"])
    assert TokenFamily.objects.get(user=user).revoked_at is not None
    get_redis().flushdb()  # Redis lost its data: the refresh token is still refused
    assert_error(refresh(second["refresh"]), 401, "NOT_AUTHENTICATED")


def test_redis_down_at_replay_revokes_nothing_and_answers_503(user):
    from tests.helpers import redis_unreachable

    first = login_client(user).tokens
    second = refresh(first["refresh"]).json()
    with redis_unreachable():
        assert_error(refresh(first["refresh"]), 503, "SERVICE_UNAVAILABLE")
    assert TokenFamily.objects.get(user=user).revoked_at is None
    # Retried with Redis back, the replay is detected and revokes the family.
    assert_error(refresh(first["refresh"]), 401, "NOT_AUTHENTICATED")
    assert me_status(second["access"]) == 401


def test_refresh_token_of_another_users_family_is_refused(user):
    other = UserFactory()
    mine = login_client(user).tokens
    # Forge nothing: take a real refresh token of mine and claim it for another family of another user.
    from apps.accounts.services import _SignedRefreshToken

    token = _SignedRefreshToken(mine["refresh"])
    token[revocation.FAMILY_CLAIM] = TokenFamily.objects.create(
        id="f" * 32, user=other, expires_at=token.current_time + timedelta(days=1)
    ).pk
    assert_error(refresh(str(token)), 401, "NOT_AUTHENTICATED")


# --- Logout -------------------------------------------------------------------------------------


def test_logout_ends_every_access_token_of_the_session(user):
    first = login_client(user).tokens
    second = refresh(first["refresh"]).json()
    other_session = login_client(user).tokens
    assert me_status(first["access"]) == 200  # an older access token of the session, still live

    response = bearer(second["access"]).post("/api/auth/logout", {"refresh": second["refresh"]}, format="json")
    assert response.status_code == 204
    assert me_status(first["access"]) == 401
    assert me_status(second["access"]) == 401
    assert_error(refresh(second["refresh"]), 401, "NOT_AUTHENTICATED")
    assert me_status(other_session["access"]) == 200


def test_logout_ends_the_session_on_the_queue_endpoints_too(user):
    date = make_date()
    first = login_client(user).tokens
    second = refresh(first["refresh"]).json()
    assert queue_status(first["access"], date) == 200
    bearer(second["access"]).post("/api/auth/logout", {"refresh": second["refresh"]}, format="json")
    assert queue_status(first["access"], date) == 401


# --- Deactivation -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["service", "save", "soft_delete"])
def test_deactivation_ends_access_everywhere(user, how):
    from django.utils import timezone

    date = make_date()
    sessions = [login_client(user).tokens for _ in range(2)]
    for tokens in sessions:
        assert queue_status(tokens["access"], date) == 200

    if how == "service":
        services.deactivate_user(user_id=user.pk)
    elif how == "save":  # what the admin's change form does
        user.is_active = False
        user.save()
    else:
        user.deleted_at = timezone.now()
        user.save(update_fields=["deleted_at"])

    for tokens in sessions:
        assert queue_status(tokens["access"], date) == 401  # stateless: no database read
        assert me_status(tokens["access"]) == 401
        assert_error(refresh(tokens["refresh"]), 401, "NOT_AUTHENTICATED")


def test_reactivated_user_logs_in_again_but_old_tokens_stay_dead(user, monkeypatch):
    import time

    date = make_date()
    old = login_client(user).tokens
    old_access = AccessToken(old["access"])
    old_access["iat"] -= 100  # issued well before the deactivation
    now = time.time()
    monkeypatch.setattr(revocation.time, "time", lambda: now - 50)  # deactivated 50 s ago
    services.deactivate_user(user_id=user.pk)
    monkeypatch.undo()
    user.refresh_from_db()
    user.is_active = True
    user.save()
    assert_error(refresh(old["refresh"]), 401, "NOT_AUTHENTICATED")
    assert queue_status(str(old_access), date) == 401

    fresh = login_client(user).tokens
    assert queue_status(fresh["access"], date) == 200
    assert me_status(fresh["access"]) == 200


def test_wallet_saves_do_not_touch_the_revocation_keys(user, monkeypatch):
    from decimal import Decimal

    services.deactivate_user(user_id=user.pk)
    calls = []
    monkeypatch.setattr(revocation, "revoke_user_tokens", lambda **kwargs: calls.append(kwargs))
    services.refund(user=user, amount=Decimal("5.00"), reference="refund of an inactive buyer")
    assert calls == []


def test_malformed_user_id_claims_are_401_not_500(api_client, user):
    date = make_date()
    for bad in ("abc", "1.5", "-1", "", "٣", True, [1], None, 2**70):
        token = AccessToken()
        token["user_id"] = bad
        for status in (me_status(str(token)), queue_status(str(token), date)):
            assert status == 401, (bad, status)
    token = AccessToken()
    token["user_id"] = str(user.pk)
    assert me_status(str(token)) == 200


# --- The pure rule and its Lua twin ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("iat", "revoked_before", "family_revoked", "expected"),
    [
        (100, None, None, False),
        (100, "101", None, True),
        (101, "101", None, False),
        (100, None, "1", True),
        (200, "101", "1", True),
    ],
)
def test_is_revoked_rule_in_python_and_in_lua(iat, revoked_before, family_revoked, expected):
    assert (
        revocation.is_revoked(issued_at=iat, revoked_before=revoked_before, family_revoked=family_revoked) is expected
    )
    redis = get_redis()
    keys = ["test:{t}:revoked_before", "test:{t}:family"]
    redis.delete(*keys)
    if revoked_before is not None:
        redis.set(keys[0], revoked_before)
    if family_revoked is not None:
        redis.set(keys[1], family_revoked)
    script = revocation.LUA_IS_REVOKED + (
        "return is_revoked(tonumber(ARGV[1]), redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])) and 1 or 0"
    )
    assert redis.eval(script, 2, *keys, iat) == int(expected)


def test_revocation_keys_share_the_users_hash_slot(user):
    token = AccessToken(login_client(user).tokens["access"])
    stamp_key, family_key = revocation.revocation_keys(token.payload)
    tag = f"{{u{user.pk}}}"
    assert tag in stamp_key and tag in family_key


# --- The admin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "still_active"), [("end_sessions", True), ("deactivate", False)])
def test_admin_actions_end_every_session(user, action, still_active):
    from django.test import Client

    from tests.factories import DEFAULT_PASSWORD

    date = make_date()
    tokens = login_client(user).tokens
    admin_user = UserFactory(role="STAFF", is_superuser=True)
    client = Client()
    assert client.login(email=admin_user.email, password=DEFAULT_PASSWORD)
    response = client.post(
        "/admin/accounts/user/", {"action": action, "_selected_action": [user.pk], "index": 0}, follow=True
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_active is still_active
    assert queue_status(tokens["access"], date) == 401
    assert_error(refresh(tokens["refresh"]), 401, "NOT_AUTHENTICATED")
    assert client.get("/admin/accounts/tokenfamily/").status_code == 200


def test_deactivating_in_the_admin_change_form_ends_every_session(user):
    from django.test import Client

    from tests.factories import DEFAULT_PASSWORD

    date = make_date()
    tokens = login_client(user).tokens
    admin_user = UserFactory(role="STAFF", is_superuser=True)
    client = Client()
    assert client.login(email=admin_user.email, password=DEFAULT_PASSWORD)
    form = {
        "email": user.email, "name": user.name, "phone_number": "", "address": "", "role": "USER",
        "is_active": "", "_save": "Save",
    }  # fmt: skip
    response = client.post(f"/admin/accounts/user/{user.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert not user.is_active
    assert queue_status(tokens["access"], date) == 401


# --- Password change ----------------------------------------------------------------------------


def change_password_in_the_admin(user, new_password: str) -> None:
    staff = UserFactory(is_superuser=True, role="STAFF")
    client = Client()
    client.force_login(staff)
    response = client.post(
        f"/admin/accounts/user/{user.pk}/password/", {"password1": new_password, "password2": new_password}
    )
    assert response.status_code == 302, response.content


@pytest.mark.parametrize("how", ["set_password", "admin", "changepassword"])
def test_a_password_change_ends_every_session(user, how, monkeypatch):
    date = make_date()
    sessions = [login_client(user).tokens for _ in range(2)]
    for tokens in sessions:
        assert queue_status(tokens["access"], date) == 200

    new_password = "another-Secret-pass-42"
    if how == "set_password":
        user.set_password(new_password)
        user.save()
    elif how == "admin":
        change_password_in_the_admin(user, new_password)
    else:
        answers = iter([new_password, new_password])
        monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
        call_command("changepassword", user.email)

    for tokens in sessions:
        assert queue_status(tokens["access"], date) == 401  # stateless: no database read
        assert me_status(tokens["access"]) == 401
        assert_error(refresh(tokens["refresh"]), 401, "NOT_AUTHENTICATED")
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_a_password_change_with_redis_down_changes_nothing(user, monkeypatch):
    import redis

    tokens = login_client(user).tokens
    old_hash = type(user).objects.get(pk=user.pk).password

    def redis_down(**kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(revocation, "revoke_user_tokens", redis_down)
    user.set_password("another-Secret-pass-42")
    with pytest.raises(redis.ConnectionError):
        user.save()
    assert type(user).objects.get(pk=user.pk).password == old_hash
    assert TokenFamily.objects.get(user=user).revoked_at is None
    assert me_status(tokens["access"]) == 200


def test_a_hash_upgraded_at_login_and_other_saves_keep_the_sessions(user):
    tokens = login_client(user).tokens
    user.name = "Renamed"
    user.save()
    type(user).objects.filter(pk=user.pk).update(password="md5$salt$0")  # an outdated hash ...
    user.refresh_from_db()
    user.check_password("wrong")  # ... checked (and, were it right, upgraded) without a new password
    assert me_status(tokens["access"]) == 200
    assert refresh(tokens["refresh"]).status_code == 200


def test_a_login_right_after_a_password_change_works(user):
    """Revocation is to the millisecond (`iat_ms`): the new password's session, started within the same
    second as the change, is not refused with the old ones."""
    date = make_date()
    old = login_client(user).tokens
    user.set_password("another-Secret-pass-42")
    user.save()
    response = APIClient().post(
        "/api/auth/login", {"email": user.email, "password": "another-Secret-pass-42"}, format="json"
    )
    assert response.status_code == 200
    assert me_status(response.json()["access"]) == 200
    assert queue_status(response.json()["access"], date) == 200
    assert me_status(old["access"]) == 401


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iat": 100}, 100),
        ({"iat": 100, "iat_ms": 100_250}, 100.25),
        ({"iat": 100, "iat_ms": 101_000}, 100),  # not within its iat's second: ignored
        ({"iat": 100, "iat_ms": True}, 100),
    ],
)
def test_issued_at_is_to_the_millisecond_when_the_token_says_so(claims, expected):
    assert revocation.issued_at(claims) == expected
