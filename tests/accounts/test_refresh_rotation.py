"""A refresh is two statements and no transaction: the user's row, then one conditional UPDATE of the
session's newest refresh token id. Sessions live before that record existed carry over."""

import importlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import services
from apps.accounts.models import TokenFamily
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

carry_over = importlib.import_module("apps.accounts.migrations.0003_token_family_refresh_jti")


def test_a_refresh_is_two_statements_without_a_transaction():
    pair = services.issue_tokens(user=UserFactory())
    with CaptureQueriesContext(connection) as queries:
        response = APIClient().post("/api/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT") and statements[1].startswith("UPDATE"), statements
    assert not any("SAVEPOINT" in sql or sql in ("BEGIN", "COMMIT") for sql in statements)


def test_the_session_row_records_the_newest_refresh_token():
    user = UserFactory()
    first = services.issue_tokens(user=user)
    second = services.rotate_refresh_token(refresh=first["refresh"])
    family = TokenFamily.objects.get(user=user)
    assert family.refresh_jti == RefreshToken(second["refresh"], verify=False)[jwt_settings.JTI_CLAIM]
    assert family.revoked_at is None


@pytest.mark.django_db(transaction=True)
def test_sessions_live_before_the_record_keep_their_newest_refresh_token():
    """The data step of the migration reads simplejwt's old tables (made here as they were) and gives
    each live session the id of its newest refresh token that was not blacklisted."""
    user = UserFactory()
    family = TokenFamily.objects.create(id="f" * 32, user=user, refresh_jti="", expires_at=timezone.now())
    revoked = TokenFamily.objects.create(
        id="r" * 32, user=user, refresh_jti="", expires_at=timezone.now(), revoked_at=timezone.now()
    )

    def token(fam: str) -> tuple[str, str]:
        refresh = RefreshToken()
        refresh["fam"] = fam
        refresh[jwt_settings.USER_ID_CLAIM] = str(user.pk)
        return refresh[jwt_settings.JTI_CLAIM], str(refresh)

    rotated, newest, newest_of_revoked = token(family.pk), token(family.pk), token(revoked.pk)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE token_blacklist_outstandingtoken (id INTEGER PRIMARY KEY, jti VARCHAR(255),"
            " token TEXT, created_at DATETIME(6))"
        )
        cursor.execute("CREATE TABLE token_blacklist_blacklistedtoken (id INTEGER PRIMARY KEY, token_id INTEGER)")
        try:
            for pk, (jti, raw), created in (
                (1, rotated, now - timedelta(minutes=2)),
                (2, newest, now - timedelta(minutes=1)),
                (3, newest_of_revoked, now),
            ):
                cursor.execute(
                    "INSERT INTO token_blacklist_outstandingtoken VALUES (%s, %s, %s, %s)", [pk, jti, raw, created]
                )
            cursor.execute("INSERT INTO token_blacklist_blacklistedtoken VALUES (1, 1)")

            class Editor:
                pass

            editor = Editor()
            editor.connection = connection
            from django.apps import apps

            carry_over.carry_live_sessions_over(apps, editor)
        finally:
            cursor.execute("DROP TABLE token_blacklist_blacklistedtoken")
            cursor.execute("DROP TABLE token_blacklist_outstandingtoken")

    family.refresh_from_db()
    revoked.refresh_from_db()
    assert family.refresh_jti == newest[0]
    assert revoked.refresh_jti == ""  # a revoked session stays refused
    assert services.rotate_refresh_token(refresh=newest[1])["refresh"]
