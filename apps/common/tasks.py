"""Periodic tasks of the common tables: housekeeping, and the outbox relay (apps.common.outbox)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .idempotency import purge_idempotency_keys


@shared_task
def purge_idempotency_keys_task() -> int:
    """Stored Idempotency-Key responses live IDEMPOTENCY_KEY_TTL_HOURS; without this the table grows
    by one row per keyed charge and payment forever."""
    return purge_idempotency_keys(older_than=timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS))


@shared_task
def purge_outbox_task() -> int:
    """DONE outbox events (one per hold, payment, refund …) are kept OUTBOX_KEEP_DONE_HOURS for
    inspection and replay; without this the table grows by every booking forever."""
    from .outbox import purge_done

    return purge_done(older_than=timedelta(hours=settings.OUTBOX_KEEP_DONE_HOURS))


@shared_task(
    soft_time_limit=settings.BOOKING_TASK_SOFT_TIME_LIMIT_SECONDS, time_limit=settings.BOOKING_TASK_TIME_LIMIT_SECONDS
)
def relay_outbox_task() -> int:
    """Beat runs this every OUTBOX_RELAY_INTERVAL_SECONDS (effects also run right after their commit); safe to run twice at once."""
    from .outbox import relay

    return relay().handled
