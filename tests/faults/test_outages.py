"""Faults tried on purpose: Redis stopping mid-rush, a worker-less hold expiry, lock-wait timeouts,
a client retrying a payment after a timeout."""

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.common.exceptions import ServiceUnavailable
from apps.concerts.models import Seat
from apps.payments.models import Payment
from apps.queue.models import QueueStatus
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, fund, funded_user, login_client


@pytest.mark.django_db
def test_redis_stopping_mid_rush_answers_503_fast_and_recovers_without_restart(own_redis):
    date = make_date()
    buyer = funded_user()
    client = login_client(buyer)
    target = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    token = client.post("/api/queue", target, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
    held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 2)}, format="json")
    assert held.status_code == 201
    paid = client.post("/api/payments", {"reservation_id": held.json()["id"]}, format="json")
    assert paid.status_code == 201

    own_redis.stop()
    started = time.monotonic()
    for method, path, body in [
        ("post", "/api/queue", target),
        ("get", f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}", None),
        ("get", f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats", None),
        ("post", "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date)[5:6]}),
        ("get", "/api/users/me", None),
    ]:
        response = getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert time.monotonic() - started < 10, "a dead Redis must not hang requests"
    # What was committed before the outage is intact.
    assert Reservation.objects.get(pk=held.json()["id"]).status == "CONFIRMED"
    assert Payment.objects.count() == 1
    call_command("check_invariants")

    own_redis.start()  # same port, empty: the line and every access token are gone
    recovered = client.get("/api/users/me")
    assert recovered.status_code == 200
    # The old access token died with Redis's data; the buyer re-enters and gets a new one.
    assert_error(
        client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date)[5:6]}, format="json"),
        403,
        "QUEUE_TOKEN_REQUIRED",
    )
    assert client.post("/api/queue", target, format="json").json()["status"] == QueueStatus.READY


@pytest.mark.django_db
def test_holds_expire_for_readers_with_no_worker_and_the_sweep_catches_up():
    date = make_date()
    user = UserFactory()
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 2))
    past = timezone.now() - dt.timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(expires_at=past)
    Seat.objects.filter(pk__in=seat_ids(date, 2)).update(held_until=past)
    # Beat and the worker are down: readers already see the hold as over...
    client = login_client(user)
    assert client.get(f"/api/reservations/{reservation.pk}").json()["status"] == "EXPIRED"
    # ...another buyer can take the seats...
    other = reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    assert other.status == "HELD"
    # ...and the sweep, back, releases each hold once.
    assert reservations.release_expired_holds() == 0  # the claim above already released it
    reservation.refresh_from_db()
    assert reservation.status == "EXPIRED"
    call_command("check_invariants")


@pytest.mark.django_db(transaction=True)
def test_a_lock_wait_timeout_is_a_503_and_changes_nothing(settings):
    settings.DB_RETRY_ATTEMPTS = 2
    date = make_date()
    seat = seat_ids(date, 1)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row_lock() -> None:
        with transaction.atomic():
            list(Seat.objects.select_for_update().filter(pk=seat[0]))
            locked.set()
            release.wait(30)
        connections.close_all()

    blocker = threading.Thread(target=hold_the_row_lock)
    blocker.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        with pytest.raises(ServiceUnavailable):
            reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=seat)
    finally:
        release.set()
        blocker.join()
    assert Seat.objects.get(pk=seat[0]).status == "AVAILABLE"
    assert not Reservation.objects.exists()
    call_command("check_invariants")


@pytest.mark.django_db(transaction=True)
def test_a_payment_retried_after_a_client_timeout_charges_once():
    date = make_date()
    user = UserFactory()
    fund(user, "200000.00")
    client = login_client(user)
    token = client.post(
        "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=token)
    reservation_id = client.post(
        "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json"
    ).json()["id"]
    first = client.post("/api/payments", {"reservation_id": reservation_id}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    # The client never saw that answer (timeout) and retries; the queue access has ended meanwhile.
    retry = client.post("/api/payments", {"reservation_id": reservation_id}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == retry.status_code == 201
    assert first.json() == retry.json()
    user.refresh_from_db()
    assert user.balance == Decimal("150000.00")
    call_command("check_invariants")
