"""The outbox: events written with the change, performed by the relay after commit, retried with
backoff, parked as FAILED, replayed from the admin and the command; Celery's queues and limits."""

import datetime as dt
import threading
import time

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common import outbox
from apps.common.mail import send_mail_once
from apps.common.models import OutboxEvent, OutboxStatus
from apps.common.redis import get_redis
from apps.reservations import services as reservations
from tests.common.outbox_effects import (
    FLAKY,
    MANY,
    PARTIAL,
    RECORD,
    at_commit_ran,
    batches,
    failures_left,
    many_failures_left,
    performed,
)
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import run_in_threads, without_owed


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


@transaction.atomic
def failing_change() -> None:
    outbox.emit(RECORD, n=1)
    raise RuntimeError("the change failed")


@pytest.mark.django_db
class TestEmit:
    def test_an_event_exists_exactly_when_its_change_commits(self):
        with pytest.raises(RuntimeError):
            failing_change()
        assert not OutboxEvent.objects.exists()
        with transaction.atomic():
            outbox.emit(RECORD, n=2)
        event = OutboxEvent.objects.get()
        assert (event.kind, event.payload, event.status, event.attempts) == (RECORD, {"n": 2}, "PENDING", 0)

    def test_an_unknown_kind_is_refused_at_the_source(self):
        with pytest.raises(ValueError):
            outbox.emit("tests.misspelt", n=1)

    @pytest.mark.parametrize("procedure", [True, False])
    def test_a_hold_adds_one_insert_and_no_other_statement(self, settings, procedure):
        settings.HOLD_PROCEDURE = procedure  # on MariaDB the hold procedure inserts the row itself
        date = make_date()
        user = UserFactory()
        held = seat_ids(date, 2)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=held)
        # the hold's writes travel in one batch (apps.common.db.run_batch): count statements, not round trips
        statements = [part for q in queries.captured_queries for part in q["sql"].split(";\n")]
        outbox_statements = [sql for sql in statements if "common_outboxevent" in sql]
        if statements[-1].startswith("CALL reservations_hold("):
            assert not outbox_statements  # its INSERT runs on the server
        else:
            assert len(outbox_statements) == 1 and outbox_statements[0].startswith("INSERT")
        assert list(OutboxEvent.objects.values_list("kind", "payload")) == [
            ("concerts.seat_map_changed", {"concert_date_id": date.pk, "seat_ids": sorted(held)})
        ]


@pytest.mark.django_db
class TestRelay:
    def test_performs_due_events_in_order_and_marks_them_done(self):
        for n in range(3):
            outbox.emit(RECORD, n=n)
        run = outbox.relay()
        assert (run.done, run.retried, run.failed) == (3, 0, 0)
        assert performed == [0, 1, 2]
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
        assert outbox.relay().handled == 0 and performed == [0, 1, 2]

    def test_runs_in_batches_until_nothing_is_due(self):
        for n in range(7):
            outbox.emit(RECORD, n=n)
        assert outbox.relay(batch_size=3).done == 7
        assert performed == list(range(7))

    def test_a_failure_is_retried_after_a_growing_backoff(self, settings):
        settings.OUTBOX_BACKOFF_BASE_SECONDS = 10
        failures_left["count"] = 2
        outbox.emit(FLAKY, n=1)
        assert outbox.relay().retried == 1
        event = OutboxEvent.objects.get()
        assert (event.status, event.attempts) == ("PENDING", 1)
        assert event.last_error == "ConnectionError: the broker is away"
        first_wait = (event.available_at - event.updated_at).total_seconds()
        assert 7.5 <= first_wait <= 12.5
        assert outbox.relay().handled == 0, "not due before its backoff ends"

        assert outbox.relay(now=later(13)).retried == 1
        event.refresh_from_db()
        assert event.attempts == 2
        assert 15 <= (event.available_at - event.updated_at).total_seconds() <= 25

        assert outbox.relay(now=later(60)).done == 1
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_error, performed) == ("DONE", 3, "", [1])

    def test_parked_as_failed_after_max_attempts_with_the_last_error(self, settings):
        settings.OUTBOX_MAX_ATTEMPTS = 3
        failures_left["count"] = 99
        outbox.emit(FLAKY, n=1)
        for minutes in (0, 10, 20):
            outbox.relay(now=later(minutes * 60))
        event = OutboxEvent.objects.get()
        assert (event.status, event.attempts, event.last_error) == ("FAILED", 3, "ConnectionError: the broker is away")
        assert outbox.relay(now=later(3600)).handled == 0, "a parked event waits for a person"

        failures_left["count"] = 0
        assert outbox.retry() == 1
        assert outbox.relay().done == 1
        assert performed == [1]

    def test_an_effect_performed_many_at_once_gets_the_batch_of_its_kind_in_one_call(self):
        outbox.emit(MANY, n=1)
        outbox.emit(RECORD, n=2)
        outbox.emit(MANY, n=3)
        outbox.emit(MANY, n=4)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            run = outbox.relay(batch_size=10)
        assert (run.done, run.retried) == (4, 0)
        assert batches == [[1, 3, 4]] and performed == [2]
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
        # Every event done in the batch is marked in one UPDATE.
        sent = [without_owed(q["sql"]) for q in queries.captured_queries]
        marks = [sql for sql in sent if sql.startswith("UPDATE") and "DONE" in sql]
        assert len(marks) == 1, marks
        # Batches of the relay's size: each is one call.
        for n in range(5, 10):
            outbox.emit(MANY, n=n)
        assert outbox.relay(batch_size=3).done == 5
        assert batches == [[1, 3, 4], [5, 6, 7], [8, 9]]

    def test_a_failed_batch_is_tried_again_whole(self):
        many_failures_left["count"] = 1
        for n in range(3):
            outbox.emit(MANY, n=n)
        assert outbox.relay().retried == 3
        assert batches == []
        assert set(OutboxEvent.objects.values_list("status", "attempts")) == {("PENDING", 1)}
        assert outbox.relay(now=later(60)).done == 3
        assert batches == [[0, 1, 2]]

    def test_an_effect_is_coalesced_or_performed_many_at_once_not_both(self):
        with pytest.raises(ValueError):
            outbox.effect("tests.both", coalesce=True, many=lambda events: None)

    def test_a_failing_kind_does_not_hold_up_the_others(self):
        failures_left["count"] = 1
        outbox.emit(FLAKY, n=1)
        outbox.emit(FLAKY, n=2)
        outbox.emit(RECORD, n=3)
        run = outbox.relay()
        assert (run.done, run.retried) == (1, 1)
        assert performed == [3]
        # The second FLAKY event was not tried behind its failing twin: due again, no attempt counted.
        second = OutboxEvent.objects.get(payload__n=2)
        assert (second.status, second.attempts) == ("PENDING", 0)
        assert outbox.relay().done == 1 and performed == [3, 2]

    def test_equal_seat_map_events_of_a_batch_run_once(self, monkeypatch):
        from apps.concerts import effects

        dropped: list[int] = []
        monkeypatch.setattr(
            effects, "seat_map_bump", lambda *, concert_date_id, seat_ids=None: dropped.append(concert_date_id)
        )
        for date_id in (5, 5, 6, 5):
            outbox.emit("concerts.seat_map_changed", concert_date_id=date_id)
        assert outbox.relay().done == 4
        assert sorted(dropped) == [5, 6]

    def test_an_event_with_no_registered_effect_is_retried_then_parked(self, settings):
        settings.OUTBOX_MAX_ATTEMPTS = 1
        OutboxEvent.objects.create(kind="tests.gone", payload={}, available_at=timezone.now())
        assert outbox.relay().failed == 1
        assert "no outbox effect is registered" in OutboxEvent.objects.get().last_error


@pytest.mark.django_db(transaction=True)
class TestFastPath:
    def test_an_effect_runs_right_after_commit_and_the_relay_does_not_run_it_again(self, settings):
        with transaction.atomic():
            outbox.emit(RECORD, n=1)
            outbox.emit(RECORD, n=2)
            assert performed == [], "nothing runs before the commit"
        assert performed == [1, 2]
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"PENDING"}, "owed until the relay"
        notes = [outbox.fast_done_key(pk) for pk in OutboxEvent.objects.values_list("pk", flat=True)]
        assert all(0 < get_redis().ttl(note) <= settings.OUTBOX_FAST_PATH_NOTE_SECONDS for note in notes)
        assert outbox.relay().done == 2
        assert performed == [1, 2]
        assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
        assert get_redis().exists(*notes) == 0, "the relay took the notes"

    def test_a_failure_pauses_the_fast_path_in_this_process_and_the_relay_runs_the_effect(self, monkeypatch):
        failures_left["count"] = 1
        with transaction.atomic():
            outbox.emit(FLAKY, n=1)  # fails after commit: logged, not raised into the committed request
        with transaction.atomic():
            outbox.emit(FLAKY, n=2)  # not tried: a committed request does not pay the outage again
            outbox.emit(RECORD, n=0)  # another kind (another dependency) is not held up
        assert performed == [0] and failures_left["count"] == 0
        monkeypatch.setattr(outbox.time, "monotonic", lambda: outbox._paused_until[FLAKY] + 1)
        with transaction.atomic():
            outbox.emit(FLAKY, n=3)
        assert performed == [0, 3]
        assert outbox.relay().done == 4
        assert sorted(performed) == [0, 1, 2, 3]

    def test_the_part_of_an_effect_that_cannot_wait_runs_at_commit_and_the_relay_runs_the_whole(self):
        with transaction.atomic():
            outbox.emit(PARTIAL, n=1)
        assert at_commit_ran == [1] and performed == [], "the rest waits for the relay"
        assert outbox.relay().done == 1
        assert at_commit_ran == [1, 1] and performed == [1]

    def test_a_rolled_back_transaction_runs_nothing(self):
        with pytest.raises(RuntimeError):
            failing_change()
        assert performed == [] and not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_relays_running_at_once_perform_each_event_once(monkeypatch, without_fast_path):
    for n in range(40):
        outbox.emit(RECORD, n=n)
    lock = threading.Lock()

    def slow_record(event: OutboxEvent) -> None:
        time.sleep(0.005)  # keeps each relay busy while the others claim
        with lock:
            performed.append(event.payload["n"])

    monkeypatch.setitem(outbox._effects, RECORD, outbox.Effect(kind=RECORD, run=slow_record))
    results = run_in_threads(4, lambda i: outbox.relay(batch_size=5).done)
    assert sum(results) == 40, results
    assert sorted(performed) == list(range(40))


@pytest.mark.django_db
class TestSendMailOnce:
    def test_one_e_mail_per_key(self):
        for _ in range(2):
            send_mail_once(key="outbox:1", subject="Hi", message="Once", recipient="a@example.com")
        send_mail_once(key="outbox:2", subject="Hi", message="Another", recipient="a@example.com")
        assert [message.body for message in mail.outbox] == ["Once", "Another"]

    def test_a_send_that_fails_is_not_recorded(self, monkeypatch):
        import apps.common.mail as module

        def broken(**kwargs):
            raise OSError("SMTP down")

        monkeypatch.setattr(module, "send_mail", broken)
        with pytest.raises(OSError):
            send_mail_once(key="outbox:1", subject="Hi", message="Once", recipient="a@example.com")
        monkeypatch.undo()
        assert send_mail_once(key="outbox:1", subject="Hi", message="Once", recipient="a@example.com")
        assert len(mail.outbox) == 1


@pytest.mark.django_db
class TestOperators:
    def test_replay_command_sends_failed_events_back_and_runs_the_relay(self, settings):
        settings.OUTBOX_MAX_ATTEMPTS = 1
        failures_left["count"] = 1
        outbox.emit(FLAKY, n=1)
        outbox.relay()
        assert OutboxEvent.objects.get().status == "FAILED"
        call_command("outbox_replay")
        assert OutboxEvent.objects.get().status == "DONE" and performed == [1]

    def test_replay_of_named_done_events_and_no_run(self):
        outbox.emit(RECORD, n=1)
        outbox.relay()
        event = OutboxEvent.objects.get()
        call_command("outbox_replay", "--id", str(event.pk), "--no-run")
        assert OutboxEvent.objects.get().status == "DONE", "DONE events are replayed only when asked"
        call_command("outbox_replay", "--id", str(event.pk), "--include-done", "--no-run")
        event.refresh_from_db()
        assert (event.status, event.attempts) == ("PENDING", 0)

    def test_admin_opens_on_pending_and_failed_events_and_retries_them(self, client, settings):
        settings.OUTBOX_MAX_ATTEMPTS = 1
        operator = UserFactory(is_superuser=True)
        client.force_login(operator)
        failures_left["count"] = 1
        outbox.emit(FLAKY, n=1)
        outbox.emit(RECORD, n=2)
        outbox.relay()
        outbox.emit(RECORD, n=3)
        failed, done, pending = OutboxEvent.objects.order_by("pk")
        assert (failed.status, done.status, pending.status) == ("FAILED", "DONE", "PENDING")

        page = client.get("/admin/common/outboxevent/")
        assert page.status_code == 200
        shown = {event.pk for event in page.context["cl"].result_list}
        assert shown == {failed.pk, pending.pk}
        assert client.get("/admin/common/outboxevent/?state=all").context["cl"].result_count == 3
        assert b"the broker is away" in page.content

        response = client.post(
            "/admin/common/outboxevent/", {"action": "retry_selected", "_selected_action": [failed.pk]}
        )
        assert response.status_code == 302
        failed.refresh_from_db()
        assert (failed.status, failed.attempts) == (OutboxStatus.PENDING, 0)
        assert client.get(f"/admin/common/outboxevent/{failed.pk}/change/").status_code == 200
        assert client.post(f"/admin/common/outboxevent/{failed.pk}/delete/").status_code == 403
        client.force_login(UserFactory(role="STAFF"))  # concert staff: not an operator's page
        assert client.get("/admin/common/outboxevent/").status_code == 403


@pytest.mark.django_db
def test_done_events_and_their_e_mail_records_are_purged_after_the_keep_time(settings):
    from apps.common.models import SentEmail
    from apps.common.tasks import purge_outbox_task

    settings.OUTBOX_MAX_ATTEMPTS = 1
    failures_left["count"] = 1
    outbox.emit(FLAKY, n=1)  # will be FAILED
    for n in range(2, 5):
        outbox.emit(RECORD, n=n)
    outbox.relay()
    outbox.emit(RECORD, n=5)  # still pending
    old_done, recent_done = OutboxEvent.objects.filter(status="DONE").order_by("pk")[:2]
    for event in OutboxEvent.objects.all():
        send_mail_once(key=f"outbox:{event.pk}", subject="s", message="m", recipient="a@example.com")
    hours_ago = timezone.now() - dt.timedelta(hours=settings.OUTBOX_KEEP_DONE_HOURS + 1)
    OutboxEvent.objects.exclude(pk=recent_done.pk).update(available_at=hours_ago, created_at=hours_ago)

    assert purge_outbox_task.delay().get() == 2  # the two old DONE ones
    left = dict(OutboxEvent.objects.values_list("pk", "status"))
    assert sorted(left.values()) == ["DONE", "FAILED", "PENDING"] and recent_done.pk in left
    assert old_done.pk not in left
    assert set(SentEmail.objects.values_list("key", flat=True)) == {f"outbox:{pk}" for pk in left}
    assert outbox.purge_done(older_than=dt.timedelta(hours=settings.OUTBOX_KEEP_DONE_HOURS)) == 0


def test_periodic_tasks_expire_after_their_interval_and_booking_work_has_its_own_queue(settings):
    from ticketing.celery import app

    app.loader.import_default_modules()  # what a worker or beat does at start
    app.finalize(auto=True)
    schedule = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    booking = {
        "apps.reservations.tasks.release_expired_holds_task": settings.HOLD_SWEEP_INTERVAL_SECONDS,
        "apps.queue.tasks.admit_waiting_buyers_task": settings.QUEUE_ADMIT_INTERVAL_SECONDS,
        "apps.common.tasks.relay_outbox_task": settings.OUTBOX_RELAY_INTERVAL_SECONDS,
    }
    assert set(booking) < set(schedule)
    for name, entry in schedule.items():
        assert entry["options"]["expires"] == entry["schedule"], name
        if name in booking:
            assert entry["schedule"] == booking[name]
            assert app.amqp.router.route({}, name)["queue"].name == "booking"
            task = app.tasks[name]
            assert task.soft_time_limit == settings.BOOKING_TASK_SOFT_TIME_LIMIT_SECONDS
            assert task.time_limit == settings.BOOKING_TASK_TIME_LIMIT_SECONDS
        else:
            assert app.amqp.router.route({}, name)["queue"].name != "booking"
    assert settings.OUTBOX_LEASE_SECONDS > settings.BOOKING_TASK_TIME_LIMIT_SECONDS
    # Every other task falls under the global limits.
    assert app.conf.task_soft_time_limit and app.conf.task_time_limit > app.conf.task_soft_time_limit
    for name in (
        "apps.reservations.tasks.send_reservation_confirmed_emails",
        "apps.reservations.tasks.send_reservation_confirmed_email",
        "apps.payments.tasks.send_refund_email",
    ):
        assert app.amqp.router.route({}, name)["queue"].name == "email"
