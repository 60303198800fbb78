import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")

app = Celery("ticketing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request ids into task messages and out again in the worker's logs; task latency and outcomes.
import apps.common.task_signals  # noqa: E402, F401


@app.on_after_finalize.connect
def setup_periodic_tasks(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    purge = settings.PURGE_INTERVAL_SECONDS
    periodic = [
        # The booking queue's work (routed in settings): buyers wait on these.
        (
            settings.HOLD_SWEEP_INTERVAL_SECONDS,
            "apps.reservations.tasks.release_expired_holds_task",
            "release expired holds",
        ),
        (settings.QUEUE_ADMIT_INTERVAL_SECONDS, "apps.queue.tasks.admit_waiting_buyers_task", "admit waiting buyers"),
        (settings.OUTBOX_RELAY_INTERVAL_SECONDS, "apps.common.tasks.relay_outbox_task", "relay the outbox"),
        # Housekeeping: rows that only grow (stored idempotent responses, expired refresh tokens and sessions).
        (purge, "apps.common.tasks.purge_idempotency_keys_task", "purge idempotency keys"),
        (purge, "apps.accounts.tasks.purge_expired_tokens_task", "purge expired tokens"),
        (purge, "apps.common.tasks.purge_outbox_task", "purge done outbox events"),
    ]
    for interval, task, name in periodic:
        # A run not started within one interval is dropped (the next one does the same work), so a
        # worker that was down comes back to one run of each, not to a pile of stale ones.
        sender.add_periodic_task(float(interval), sender.signature(task), name=name, expires=float(interval))
