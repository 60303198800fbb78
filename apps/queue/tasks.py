from celery import shared_task

from . import services


@shared_task
def admit_waiting_buyers_task() -> int:
    """Beat runs this every QUEUE_ADMIT_INTERVAL_SECONDS; safe to run twice at once."""
    return sum(run.admitted for run in services.admit_all_dates())
