"""/metrics: who may scrape it, and that the HTTP and domain counters move with what buyers do."""

import datetime as dt
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.payments import services as payments
from apps.queue import services as queue
from apps.reservations import services as reservations
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import admitted_client, assert_error, fund, funded_user, redis_unreachable

ROOT = Path(__file__).resolve().parents[2]


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before, after, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.mark.django_db
def test_a_purchase_moves_the_request_and_domain_counters(metrics_client):
    date = make_date()
    buyer, rival = UserFactory(), UserFactory()
    fund(buyer)
    client = admitted_client(date, buyer)
    seats = seat_ids(date, 2)
    before = scrape(metrics_client)

    held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": seats}, format="json")
    assert held.status_code == 201, held.content
    taken = admitted_client(date, rival).post(
        "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seats[:1]}, format="json"
    )
    assert_error(taken, 409, "SEAT_UNAVAILABLE")
    paid = client.post("/api/payments", {"reservation_id": held.json()["id"]}, format="json")
    assert paid.status_code in (200, 201), paid.content

    after = scrape(metrics_client)
    assert moved(before, after, "ticketing_holds_total", event="made") == 1
    assert moved(before, after, "ticketing_holds_total", event="paid") == 1
    assert moved(before, after, "ticketing_payments_total", event="paid") == 1
    assert moved(before, after, "ticketing_seat_conflicts_total") == 1
    route = {"route": "/api/reservations", "method": "POST"}
    assert moved(before, after, "ticketing_http_responses_total", **route, status="201") == 1
    assert moved(before, after, "ticketing_http_responses_total", **route, status="409") == 1
    assert moved(before, after, "ticketing_http_request_duration_seconds_count", **route) == 2
    # CPU spent serving them: more than nothing, less than the time they took
    spent = moved(before, after, "ticketing_http_request_duration_seconds_sum", **route)
    assert 0 < moved(before, after, "ticketing_http_request_cpu_seconds_total", **route) <= spent
    assert moved(before, after, "ticketing_api_errors_total", code="SEAT_UNAVAILABLE", status="409") == 1


@pytest.mark.django_db
def test_expiry_cancellation_and_refund_are_counted(metrics_client):
    date = make_date()
    user = funded_user()
    before = scrape(metrics_client)
    expiring = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    cancelled = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2)[1:])
    reservations.cancel_reservation(user=user, reservation_id=cancelled.pk)
    released = reservations.release_expired_holds(
        reservation_ids=[expiring.pk], now=timezone.now() + dt.timedelta(hours=1)
    )
    assert released == 1
    booked = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 4)[3:])
    payments.pay_for_reservation(user=user, reservation_id=booked.pk)
    reservations.cancel_reservation(user=user, reservation_id=booked.pk)

    after = scrape(metrics_client)
    assert moved(before, after, "ticketing_holds_total", event="made") == 3
    assert moved(before, after, "ticketing_holds_total", event="expired") == 1
    assert moved(before, after, "ticketing_holds_total", event="cancelled") == 1
    assert moved(before, after, "ticketing_payments_total", event="refunded") == 1


@pytest.mark.django_db
def test_waiters_passed_over_are_counted(metrics_client, settings):
    settings.QUEUE_ADMISSION, settings.QUEUE_MIN_ACTIVE, settings.QUEUE_MAX_ACTIVE = "fixed", 1, 1
    date = make_date()
    users = UserFactory.create_batch(3)
    for user in users:
        queue.enter_queue(user_id=user.pk, concert_id=date.concert_id, concert_date_id=date.pk)
    queue.end_access(user_id=users[0].pk, concert_date_id=date.pk)
    before = scrape(metrics_client)
    # Three minutes on, the two waiters are late for the polls they were told (seconds) by more than the grace.
    queue.admit_next_batch(concert_date_id=date.pk, now=int(time.time() * 1000) + 180_000)
    assert moved(before, scrape(metrics_client), "ticketing_queue_passed_over_total") == 2


@pytest.mark.django_db
def test_queue_entries_admissions_and_gauges(metrics_client, settings):
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 1  # one place, whatever the admission mode
    date = make_date()
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    before = scrape(metrics_client)
    for user in (first, second, third):
        queue.enter_queue(user_id=user.pk, concert_id=date.concert_id, concert_date_id=date.pk)
    queue.enter_queue(user_id=second.pk, concert_id=date.concert_id, concert_date_id=date.pk)  # keeps its place
    queue.end_access(user_id=first.pk, concert_date_id=date.pk)
    queue.admit_next_batch(concert_date_id=date.pk)

    after = scrape(metrics_client)
    assert moved(before, after, "ticketing_queue_entries_total") == 3
    assert moved(before, after, "ticketing_queue_admissions_total") == 1
    labels = {"concert_date": str(date.pk)}
    assert value(after, "ticketing_queue_waiting", **labels) == 1
    assert value(after, "ticketing_queue_active", **labels) == 1
    assert value(after, "ticketing_queue_target_active", **labels) == 1


@pytest.mark.django_db
def test_503s_are_counted_as_sheds(metrics_client, auth_client):
    date = make_date()
    before = scrape(metrics_client)
    with redis_unreachable():
        response = auth_client.get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}")
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    after = scrape(metrics_client)
    assert moved(before, after, "ticketing_sheds_total", reason="/api/queue/status") == 1
    assert moved(before, after, "ticketing_api_errors_total", code="SERVICE_UNAVAILABLE", status="503") == 1


@pytest.mark.django_db
def test_celery_tasks_are_timed_and_counted(metrics_client):
    from apps.reservations.tasks import release_expired_holds_task

    name = "apps.reservations.tasks.release_expired_holds_task"
    before = scrape(metrics_client)
    started = time.perf_counter()
    release_expired_holds_task.delay()
    spent = time.perf_counter() - started
    after = scrape(metrics_client)
    assert moved(before, after, "ticketing_celery_tasks_total", task=name, state="SUCCESS") == 1
    assert moved(before, after, "ticketing_celery_task_duration_seconds_count", task=name) == 1
    # The task's CPU (the thread's): some, and no more than the time the call took.
    assert 0 < moved(before, after, "ticketing_celery_task_cpu_seconds_total", task=name) <= spent


def test_metrics_need_the_token_when_one_is_set(api_client):
    with override_settings(METRICS_TOKEN="scrape-secret", METRICS_OPEN=True):
        assert_error(api_client.get("/metrics"), 401, "NOT_AUTHENTICATED")
        assert_error(api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong"), 401, "NOT_AUTHENTICATED")
        response = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
        assert response.status_code == 200
        assert b"ticketing_http_request_duration_seconds" in response.content


def test_metrics_are_not_served_without_a_token_in_production(api_client):
    with override_settings(METRICS_TOKEN="", METRICS_OPEN=False):
        assert_error(api_client.get("/metrics"), 404, "NOT_FOUND")


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two processes (as two gunicorn workers would) count into PROMETHEUS_MULTIPROC_DIR; a scrape from
    a third sees the sum."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    count = textwrap.dedent("""
        from apps.common import metrics
        metrics.hold_made(); metrics.hold_made(); metrics.seat_conflict()
        metrics.observe_request(route="/api/queue/status", method="GET", status=200, seconds=0.002, cpu_seconds=0.001)
        metrics.admission_run(concert_date_id=7, admitted=3, active=3, waiting=10, target_active=5)
    """)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, cwd=ROOT)
    scrape_code = "from apps.common import metrics; print(metrics.exposition()[0].decode())"
    text = subprocess.run(
        [sys.executable, "-c", scrape_code], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert value(samples, "ticketing_holds_total", event="made") == 4
    assert value(samples, "ticketing_seat_conflicts_total") == 2
    assert value(samples, "ticketing_queue_admissions_total") == 6
    assert value(samples, "ticketing_queue_waiting", concert_date="7") == 10
    route = {"route": "/api/queue/status", "method": "GET"}
    assert value(samples, "ticketing_http_request_duration_seconds_count", **route) == 2
    assert value(samples, "ticketing_http_request_cpu_seconds_total", **route) == pytest.approx(0.002)
