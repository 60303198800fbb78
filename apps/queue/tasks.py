from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    soft_time_limit=settings.BOOKING_TASK_SOFT_TIME_LIMIT_SECONDS, time_limit=settings.BOOKING_TASK_TIME_LIMIT_SECONDS
)
def admit_waiting_buyers_task() -> int:
    """Beat runs this every QUEUE_ADMIT_INTERVAL_SECONDS; safe to run twice at once."""
    return sum(run.admitted for run in services.admit_all_dates())
