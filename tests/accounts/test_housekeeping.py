"""Tables that would only grow are purged on a schedule: stored Idempotency-Key responses after
IDEMPOTENCY_KEY_TTL_HOURS, refresh-token records and sessions once every token in them has expired."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import TokenFamily
from apps.accounts.tasks import purge_expired_tokens_task
from apps.common.models import IdempotencyKey
from apps.common.tasks import purge_idempotency_keys_task
from tests.factories import UserFactory
from tests.helpers import login_client

pytestmark = pytest.mark.django_db


def charge(client, key: str):
    return client.post("/api/users/me/balance/charge", {"amount": "5"}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_idempotency_keys_are_purged_after_their_ttl(user, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    client = login_client(user)
    for key in ("old-1", "old-2", "recent"):
        assert charge(client, key).status_code == 200
    IdempotencyKey.objects.filter(key__startswith="old").update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.filter(key="recent").update(created_at=timezone.now() - timedelta(hours=23))

    assert purge_idempotency_keys_task.delay().get() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    # The recent key still replays; a purged one runs again (a new charge).
    assert charge(client, "recent")["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in charge(client, "old-1")


def test_idempotency_purge_works_in_batches(user):
    from apps.common.idempotency import purge_idempotency_keys

    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(user=user, key=f"k{n}", scope="wallet.charge", request_hash="0" * 64) for n in range(7)
    )
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert purge_idempotency_keys(older_than=timedelta(hours=24), batch_size=3) == 7
    assert not IdempotencyKey.objects.exists()


def test_expired_refresh_tokens_and_sessions_are_purged(user):
    expired_session = login_client(user).tokens
    assert (
        APIClient().post("/api/auth/refresh", {"refresh": expired_session["refresh"]}, format="json").status_code == 200
    )
    live_session = login_client(UserFactory()).tokens
    # The first session's newest refresh token expired: the session's row goes.
    TokenFamily.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert purge_expired_tokens_task.delay().get() == 1
    assert not TokenFamily.objects.filter(user=user).exists()
    # The other session is untouched and still rotates.
    response = APIClient().post("/api/auth/refresh", {"refresh": live_session["refresh"]}, format="json")
    assert response.status_code == 200


def test_the_purges_are_on_the_beat_schedule():
    from ticketing.celery import app

    app.loader.import_default_modules()
    app.finalize()
    tasks = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    for name in ("apps.common.tasks.purge_idempotency_keys_task", "apps.accounts.tasks.purge_expired_tokens_task"):
        assert name in tasks
        assert tasks[name]["options"]["expires"] == tasks[name]["schedule"]
