"""Retrying transactions that lost a race inside the database (deadlock, lock-wait timeout)."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection

from .exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MYSQL_DEADLOCK = 1213
MYSQL_LOCK_WAIT_TIMEOUT = 1205


def is_lock_conflict(exc: OperationalError) -> bool:
    """A deadlock or lock-wait timeout (MySQL/MariaDB) or a busy SQLite file: safe to retry whole."""
    code = exc.args[0] if exc.args else None
    if code in (MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT):
        return True
    return "database is locked" in str(exc)


def retry_on_lock_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service that owns its transaction again when the database chose it as a deadlock
    victim or its lock wait timed out; after DB_RETRY_ATTEMPTS answer 503 SERVICE_UNAVAILABLE.
    Inside an outer transaction nothing is retried: the outer owner decides."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = max(1, settings.DB_RETRY_ATTEMPTS)
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not is_lock_conflict(exc) or connection.in_atomic_block:
                    raise
                logger.info("lock conflict in %s (attempt %d/%d): %s", func.__name__, attempt, attempts, exc)
                if attempt == attempts:
                    raise ServiceUnavailable() from exc
                time.sleep(random.uniform(0.005, 0.03) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
