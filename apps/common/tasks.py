"""Sending Celery tasks from request code."""

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Queue `task` once the current transaction commits. A broker outage is logged, never raised:
    the request that already committed must not turn into an error (tasks here are best-effort
    side effects such as e-mail, or have a periodic sweep that catches up)."""

    def send() -> None:
        try:
            task.apply_async(args=args, kwargs=kwargs)
        except Exception:
            logger.exception("could not queue %s", task.name)

    transaction.on_commit(send, robust=True)
