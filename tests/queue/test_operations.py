import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.common.redis import get_redis
from apps.queue import services
from tests.factories import UserFactory
from tests.reservations.conftest import make_date

pytestmark = pytest.mark.django_db


def test_operator_commands(capsys, settings):
    date = make_date()
    settings.QUEUE_MAX_ACTIVE = 1
    for uid in (1, 2, 3):
        services.enter_queue(user_id=uid, concert_id=date.concert_id, concert_date_id=date.pk)
    call_command("queue_status")
    out = capsys.readouterr().out
    assert f"{date.pk:>8} {2:>9} {1:>8}" in out
    settings.QUEUE_MAX_ACTIVE = 10
    call_command("queue_admit", "--date", str(date.pk), "--count", "1")
    assert "admitted 1; now 2 active, 1 waiting" in capsys.readouterr().out
    call_command("queue_reset", "--date", str(date.pk))
    call_command("queue_status", "--date", str(date.pk))
    assert f"{date.pk:>8} {0:>9} {0:>8}" in capsys.readouterr().out


def test_admin_queue_overview_for_staff_even_with_redis_down(client):
    staff = UserFactory(role="STAFF")
    date = make_date()
    services.enter_queue(user_id=7, concert_id=date.concert_id, concert_date_id=date.pk)
    client.force_login(staff)
    response = client.get("/admin/queue/queueoverview/")
    assert response.status_code == 200
    assert b"1 active" in response.content
    get_redis.cache_clear()
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            down = client.get("/admin/queue/queueoverview/")
    finally:
        get_redis.cache_clear()
    assert down.status_code == 200
    assert b"Redis unavailable" in down.content
