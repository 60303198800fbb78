"""Celery cannot clog: with thousands of slow e-mails queued, holds still expire and waiting buyers are
still admitted on time, because the booking queue has a worker of its own. Real Celery workers and beat
(the Procfile's queue split) against the real Redis broker and the test database."""

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from apps.common.models import SentEmail
from apps.common.redis import get_redis
from apps.payments import services as payments
from apps.queue import services as queue
from apps.queue.models import QueueStatus
from apps.reservations import services as reservations
from apps.reservations.models import Reservation, ReservationStatus
from tests.factories import UserFactory, make_date, seat_ids
from tests.faults.conftest import real_broker
from tests.helpers import fund
from tests.queue.helpers import fill_capacity

ROOT = Path(__file__).resolve().parents[2]
MAILS = 3000
DEADLINE_SECONDS = 60  # a generous bound: the mail backlog alone is MAILS x 0.2 s = 10 minutes


def procfile_queues(name: str) -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    return line.split("--queues ")[1].split()[0]


def celery(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "ticketing", *args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.django_db(transaction=True)
def test_a_flood_of_slow_e_mails_does_not_delay_hold_expiry_or_admission(settings):
    from apps.payments.tasks import send_refund_email

    date = make_date()
    payer = UserFactory()
    fund(payer)
    paid = reservations.hold_seats(user=payer, concert_date_id=date.pk, seat_ids=seat_ids(date)[:1])
    payment, _ = payments.pay_for_reservation(user=payer, reservation_id=paid.pk)

    # The flood: thousands of e-mails, each taking the slow mail server 0.2 s, queued before any worker runs.
    with real_broker(settings.CELERY_BROKER_URL):
        for event_id in range(1, MAILS + 1):
            send_refund_email.apply_async(kwargs={"payment_id": payment.pk, "event_id": 10_000_000 + event_id})
    assert get_redis().llen("email") == MAILS

    # What buyers wait for: holds that run out in a moment, and buyers waiting for a free place.
    holders = [UserFactory() for _ in range(3)]
    holds = [
        reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date)[1 + i : 2 + i])
        for i, user in enumerate(holders)
    ]
    Reservation.objects.filter(pk__in=[hold.pk for hold in holds]).update(
        expires_at=timezone.now() + dt.timedelta(seconds=2)
    )
    fill_capacity(date, settings, active=1)  # full while they enter: they wait
    waiters = [UserFactory() for _ in range(3)]
    for user in waiters:
        state = queue.enter_queue(user_id=user.pk, concert_id=date.concert_id, concert_date_id=date.pk)
        assert state.status == QueueStatus.WAITING

    run_dir = Path(tempfile.mkdtemp(prefix="celery-queues-"))
    (run_dir / "prometheus").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.faults.slow_mail",
        "DEBUG": "True",
        "DATABASE_URL": f"mysql://root:@127.0.0.1:3306/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "HOLD_SWEEP_INTERVAL_SECONDS": "1",
        "QUEUE_ADMIT_INTERVAL_SECONDS": "1",
        "QUEUE_ADMISSION": "fixed",
        "QUEUE_MIN_ACTIVE": "10",
        "QUEUE_MAX_ACTIVE": "10",
        # Per-process metrics: prometheus_client takes the variable's mere presence, even empty, as a
        # directory (the working directory) to write its files to.
        "PROMETHEUS_MULTIPROC_DIR": str(run_dir / "prometheus"),
    }
    processes = [
        celery("worker", "--queues", procfile_queues("worker"), "--concurrency", "1", "--hostname", "mail@%h",
               "--without-mingle", "--without-gossip", env=env, log=run_dir / "worker.log"),
        celery("worker", "--queues", procfile_queues("booking"), "--concurrency", "1", "--hostname", "booking@%h",
               "--without-mingle", "--without-gossip", env=env, log=run_dir / "booking.log"),
        celery("beat", "--schedule", str(run_dir / "schedule"), env=env, log=run_dir / "beat.log"),
    ]  # fmt: skip
    try:
        expired = wait_until(
            lambda: (
                Reservation.objects.filter(pk__in=[hold.pk for hold in holds], status=ReservationStatus.EXPIRED).count()
                == len(holds)
            ),
            DEADLINE_SECONDS,
        )
        admitted = wait_until(
            lambda: all(
                queue.queue_status(user_id=user.pk, concert_id=date.concert_id, concert_date_id=date.pk).status
                == QueueStatus.READY
                for user in waiters
            ),
            DEADLINE_SECONDS,
        )
        backlog = get_redis().llen("email")
        mailed = SentEmail.objects.filter(key__startswith="outbox:1000").count()
    finally:
        for process in processes:
            stop(process)
        get_redis().flushdb()  # the rest of the flood
    logs = {path.name: path.read_text()[-3000:] for path in run_dir.iterdir() if path.suffix == ".log"}
    assert expired, ("holds were not released by the sweep", logs)
    assert admitted, ("waiting buyers were not admitted", logs)
    # ... while the e-mail worker was busy with its flood and had got through only a small part of it.
    assert mailed >= 1 and backlog > MAILS // 2, (mailed, backlog, logs)
