"""Retrying transactions that lost a race inside the database (deadlock, lock-wait timeout)."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection
from django.db.models import Aggregate, CharField

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


class IdList(Aggregate):
    """The group's integer values as one comma-separated string ("3,5,8", ascending), for a row that
    needs a short list read with it in one statement (MySQL/MariaDB and SQLite; read it back with
    `read_id_list`). MySQL cuts the string at group_concat_max_len (1024 bytes by default): keep it
    to a few dozen ids."""

    function = "GROUP_CONCAT"
    output_field = CharField()

    def as_mysql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="GROUP_CONCAT(%(expressions)s ORDER BY %(expressions)s)", **extra_context
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # SQLite orders GROUP_CONCAT by the order rows arrive; callers sort what they read back.
        return self.as_sql(compiler, connection, **extra_context)


def read_id_list(value: str | None) -> list[int]:
    return sorted(int(part) for part in value.split(",")) if value else []
