"""The outbox under faults: Redis and the Celery broker gone at the moment bookings commit, and a relay
killed in the middle of a batch. Every effect must happen once: none lost, none doubled."""

import datetime as dt
import time
from collections import Counter
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from apps.common import outbox
from apps.common.models import OutboxEvent, SentEmail
from apps.common.redis import get_redis
from apps.concerts import seat_map
from apps.payments import services as payments
from apps.queue import services as queue
from apps.queue.keys import QueueKeys
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.faults.conftest import real_broker
from tests.helpers import access_token_valid, fund
from ticketing.celery import app as celery_app


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def relay_until_quiet(now: dt.datetime) -> None:
    for _ in range(5):
        if not outbox.relay(now=now).handled:
            return


def wait_for_mails(count: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_until_drained(queue_name: str, seconds: float = 30) -> None:
    """Until the broker holds no message of the queue, waiting or taken but not yet acknowledged."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not get_redis().llen(queue_name) and not get_redis().hlen("unacked"):
            return
        time.sleep(0.05)
    raise AssertionError(f"the {queue_name} queue was not drained")


def subjects() -> Counter:
    return Counter(message.subject.split(" for ")[0] for message in mail.outbox)


@pytest.mark.django_db(transaction=True)
def test_redis_and_the_broker_down_at_commit_then_back_every_effect_happens_once(own_redis):
    date = make_date()
    buyer, canceller, idler = UserFactory(), UserFactory(), UserFactory()
    for user in (buyer, canceller):
        fund(user)
    # Before the outage: a hold to pay, a paid booking to cancel, a hold about to expire, and the
    # buyer's queue access; their effects are done (eagerly here) and the seat map is cached.
    hold = reservations.hold_seats(user=buyer, concert_date_id=date.pk, seat_ids=seat_ids(date)[0:2])
    booking = reservations.hold_seats(user=canceller, concert_date_id=date.pk, seat_ids=seat_ids(date)[2:3])
    payments.pay_for_reservation(user=canceller, reservation_id=booking.pk)
    stale = reservations.hold_seats(user=idler, concert_date_id=date.pk, seat_ids=seat_ids(date)[3:4])
    Reservation.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    grant = queue.issue_access_token(user_id=buyer.pk, concert_date_id=date.pk)
    relay_until_quiet(timezone.now())
    OutboxEvent.objects.all().delete()
    mail.outbox.clear()
    map_version = seat_map.seat_status(concert_date_id=date.pk).version
    with real_broker(own_redis.url):
        get_redis().save()  # the restarted server loads this: the line and the tokens survive the outage
        own_redis.stop()

        # The outage: every booking still commits (nothing waits on Redis or the broker).
        payments.pay_for_reservation(user=buyer, reservation_id=hold.pk)
        reservations.cancel_reservation(user=canceller, reservation_id=booking.pk)
        assert reservations.release_expired_holds() == 1
        owed = Counter(OutboxEvent.objects.values_list("kind", flat=True))
        assert owed == {"payments.completed": 1, "payments.refunded": 1, "concerts.seat_map_changed": 3}
        assert mail.outbox == []

        # The relay runs while they are still down: nothing is lost, everything waits for a retry.
        run = outbox.relay()
        assert (run.done, run.failed) == (0, 0) and run.retried >= 1
        assert not OutboxEvent.objects.filter(status="DONE").exists()
        assert OutboxEvent.objects.filter(attempts=1).exists()

        own_redis.start()
        assert get_redis().zscore(QueueKeys(date.pk).active, str(buyer.pk)) is not None
        relay_until_quiet(later(600))  # past every backoff
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
        # The effects: the paid buyer's place went to the next waiter, the seat map was dropped, and
        # the two e-mails wait in the broker's `email` queue for a worker.
        assert get_redis().zscore(QueueKeys(date.pk).active, str(buyer.pk)) is None
        assert seat_map.current_version(date.pk) != map_version
        assert grant.token  # (the token itself is refused from now on: tested in tests/queue)
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=["email"], shutdown_timeout=10):
            wait_for_mails(2)
            # An operator replays everything (or a relay repeats itself): the e-mails are not sent twice.
            call_command(
                "outbox_replay",
                *[arg for pk in OutboxEvent.objects.values_list("pk", flat=True) for arg in ("--id", str(pk))],
                "--include-done",
            )
            wait_until_drained("email")
        assert subjects() == {"Your tickets": 1, "Refund": 1}
        keys = [f"outbox:{pk}" for pk in OutboxEvent.objects.values_list("pk", flat=True)]
        assert SentEmail.objects.filter(key__in=keys).count() == 2
        assert [message.to for message in mail.outbox if message.subject.startswith("Your")] == [[buyer.email]]
    call_command("check_invariants")


class RelayKilled(BaseException):
    """What a worker's death looks like from inside the relay: nothing after it runs."""


def pay_bookings(count: int) -> list[Reservation]:
    date = make_date()
    booked = []
    for index in range(count):
        user = UserFactory()
        fund(user)
        hold = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date)[index : index + 1])
        payments.pay_for_reservation(user=user, reservation_id=hold.pk)
        booked.append(hold)
    return booked


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["after an e-mail, before marking it done", "inside an effect (soft time limit)"])
def test_a_relay_killed_mid_batch_loses_nothing_and_doubles_nothing(monkeypatch, settings, where, without_fast_path):
    booked = pay_bookings(5)
    confirmations = list(OutboxEvent.objects.filter(kind="payments.completed").order_by("pk"))
    assert len(confirmations) == 5
    victim = confirmations[2].pk

    if where.startswith("after"):
        real_mark_done = outbox._mark_done

        def mark_done(events):
            if any(event.pk == victim for event in events):
                raise RelayKilled
            real_mark_done(events)

        monkeypatch.setattr(outbox, "_mark_done", mark_done)
    else:
        from apps.payments import effects

        real_effect = effects.payment_completed

        def effect(event):
            if event.pk == victim:
                raise SoftTimeLimitExceeded
            real_effect(event)

        monkeypatch.setitem(outbox._effects, "payments.completed", outbox.Effect("payments.completed", effect))

    with pytest.raises((RelayKilled, SoftTimeLimitExceeded)):
        outbox.relay()
    monkeypatch.undo()
    sent_before = len(mail.outbox)
    # Killed marking the batch done: the whole batch of confirmations went out first (one task); killed
    # inside the third confirmation (one at a time here): the two before it went out.
    assert sent_before == (5 if where.startswith("after") else 2)

    # The unfinished part of the batch is leased: a relay running now leaves it alone ...
    assert outbox.relay().handled == 0
    # ... and takes it when the lease of the dead relay ends.
    outbox.relay(now=later(settings.OUTBOX_LEASE_SECONDS + 1))
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
    recipients = Counter(message.to[0] for message in mail.outbox if message.subject.startswith("Your tickets"))
    assert recipients == {reservation.user.email: 1 for reservation in booked}


def admitted_buyer_pays() -> tuple[Any, Any, queue.AccessGrant]:
    """A buyer admitted to a date holds a seat and pays for it: (the date, the buyer, the access used)."""
    date = make_date()
    buyer = UserFactory()
    fund(buyer)
    grant = queue.issue_access_token(user_id=buyer.pk, concert_date_id=date.pk)
    hold = reservations.hold_seats(user=buyer, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    payments.pay_for_reservation(user=buyer, reservation_id=hold.pk)
    return date, buyer, grant


@pytest.mark.django_db(transaction=True)
def test_a_payment_ends_queue_access_at_commit_without_waiting_for_the_relay():
    date, buyer, grant = admitted_buyer_pays()
    assert not access_token_valid(token=grant.token, user_id=buyer.pk, concert_date_id=date.pk)
    # The event stays owed until the relay has checked that its effect ran (it ran it should the above have failed).
    assert OutboxEvent.objects.get(kind="payments.completed").status == "PENDING"


@pytest.mark.django_db(transaction=True)
def test_a_late_run_of_a_payment_effect_leaves_a_later_admission_working():
    """The payment's effect ends the access the payment used, not one granted after it: pay, enter
    the queue again (READY), and a run of the effect after that (a replay, or the relay after the
    fast path failed) leaves the new token working and the buyer admitted."""
    date, buyer, used = admitted_buyer_pays()
    relay_until_quiet(timezone.now())
    assert not access_token_valid(token=used.token, user_id=buyer.pk, concert_date_id=date.pk)

    again = queue.enter_queue(user_id=buyer.pk, concert_id=date.concert_id, concert_date_id=date.pk)
    assert again.status == "READY" and again.token
    event = OutboxEvent.objects.get(kind="payments.completed")
    assert outbox.retry(event_ids=[event.pk], include_done=True) == 1
    assert outbox.relay().done == 1

    assert access_token_valid(token=again.token, user_id=buyer.pk, concert_date_id=date.pk)
    assert queue.queue_status(user_id=buyer.pk, concert_id=date.concert_id, concert_date_id=date.pk).status == "READY"
    assert not access_token_valid(token=used.token, user_id=buyer.pk, concert_date_id=date.pk)
