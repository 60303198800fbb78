import pytest
from django.core.management import call_command

from apps.common.redis import get_redis
from apps.queue import services
from apps.queue.controller import Limits
from apps.queue.keys import QueueKeys, now_ms
from apps.queue.selectors import queue_summary
from tests.factories import UserFactory, make_date
from tests.helpers import redis_unreachable
from tests.queue.helpers import fill_capacity

pytestmark = pytest.mark.django_db


def test_operator_commands(capsys, settings, fixed_admission):
    date = make_date()
    settings.QUEUE_MAX_ACTIVE = 1
    for uid in (1, 2, 3):
        services.enter_queue(user_id=uid, concert_id=date.concert_id, concert_date_id=date.pk)
    call_command("queue_status")
    assert f"date {date.pk}: fixed: target 1 · 1 active · 2 waiting" in capsys.readouterr().out
    settings.QUEUE_MAX_ACTIVE = 10
    call_command("queue_admit", "--date", str(date.pk), "--count", "1")
    assert "admitted 1; now 2 active, 1 waiting" in capsys.readouterr().out
    call_command("queue_status", "--date", str(date.pk))
    # 2 active, 1 waiting (user 3), 1 admitted from the line in the last minute, head waited 0 s.
    assert "fixed: target 10 · 2 active · 1 waiting · 1/min admitted · oldest wait 0 s" in capsys.readouterr().out
    call_command("queue_reset", "--date", str(date.pk))
    call_command("queue_status", "--date", str(date.pk))
    assert "target 10 · 0 active · 0 waiting" in capsys.readouterr().out


def test_status_command_shows_the_target_and_the_controllers_decisions(capsys, settings, clock):
    date = make_date()
    fill_capacity(date, settings, active=2)
    settings.QUEUE_MAX_ACTIVE = 100
    services.enter_queue(user_id=1, concert_id=date.concert_id, concert_date_id=date.pk)
    services.admit_next_batch(concert_date_id=date.pk)
    call_command("queue_status", "--date", str(date.pk))
    out = capsys.readouterr().out
    step = Limits.from_settings().step(2)
    assert f"auto: target {2 + step} · 3 active · 0 waiting" in out
    assert f"grow +{step} (2→{2 + step}): healthy: 1.1 x the departures and a step" in out


def test_oldest_wait_is_the_heads_arrival_not_its_last_poll(settings, fixed_admission):
    date = make_date()
    fill_capacity(date, settings, active=0)
    services.enter_queue(user_id=1, concert_id=date.concert_id, concert_date_id=date.pk)
    keys = QueueKeys(date.pk)
    get_redis().hset(keys.arrived, "1", now_ms() - 90_000)  # entered 90 s ago
    services.queue_status(user_id=1, concert_id=date.concert_id, concert_date_id=date.pk)  # polled just now
    summary = queue_summary(concert_date_id=date.pk)
    assert (summary.waiting, summary.active, summary.oldest_wait_seconds) == (1, 0, 90)
    services.admit_next_batch(concert_date_id=date.pk, count=0)
    settings.QUEUE_MAX_ACTIVE = 1
    services.admit_next_batch(concert_date_id=date.pk)
    assert get_redis().hlen(keys.arrived) == 0  # admitted waiters leave no trace behind
    assert queue_summary(concert_date_id=date.pk).oldest_wait_seconds is None


def test_admin_queue_overview_for_staff_even_with_redis_down(client):
    staff = UserFactory(role="STAFF")
    date = make_date()
    services.enter_queue(user_id=7, concert_id=date.concert_id, concert_date_id=date.pk)
    client.force_login(staff)
    response = client.get("/admin/queue/queueoverview/")
    assert response.status_code == 200
    assert b"1 active" in response.content
    with redis_unreachable():
        down = client.get("/admin/queue/queueoverview/")
    assert down.status_code == 200
    assert b"Redis unavailable" in down.content
