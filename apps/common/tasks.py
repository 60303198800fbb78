"""Periodic housekeeping of the common tables (scheduled in ticketing/celery.py)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from .idempotency import purge_idempotency_keys


@shared_task
def purge_idempotency_keys_task() -> int:
    """Stored Idempotency-Key responses live IDEMPOTENCY_KEY_TTL_HOURS; without this the table grows
    by one row per keyed charge and payment forever."""
    return purge_idempotency_keys(older_than=timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS))
