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
