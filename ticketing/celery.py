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

    sender.add_periodic_task(
        float(settings.HOLD_SWEEP_INTERVAL_SECONDS),
        sender.signature("apps.reservations.tasks.release_expired_holds_task"),
        name="release expired holds",
    )
    sender.add_periodic_task(
        float(settings.QUEUE_ADMIT_INTERVAL_SECONDS),
        sender.signature("apps.queue.tasks.admit_waiting_buyers_task"),
        name="admit waiting buyers",
    )
    # Housekeeping: rows that only grow (stored idempotent responses, expired refresh tokens and
    # sessions). A run that waited longer than the interval is dropped: the next one does its work.
    purge = float(settings.PURGE_INTERVAL_SECONDS)
    for task, name in (
        ("apps.common.tasks.purge_idempotency_keys_task", "purge idempotency keys"),
        ("apps.accounts.tasks.purge_expired_tokens_task", "purge expired tokens"),
    ):
        sender.add_periodic_task(purge, sender.signature(task).set(expires=purge), name=name)
