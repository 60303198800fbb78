"""Side effects that run once the current transaction commits (nothing reacts to a rollback).

Every one of them is best-effort from the request's point of view: the request that already
committed must not turn into an error because a receiver failed or the broker was down. A failure is
logged, and each effect has its own fallback (access tokens expire on their own, the periodic sweeps
catch up, e-mail tasks retry)."""

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)


def run_on_commit(effect: Callable[[], Any], *, description: str) -> None:
    """Call `effect()` after commit; an exception it raises is logged with `description`."""

    def run() -> None:
        try:
            effect()
        except Exception:
            logger.exception("after commit: %s failed", description)

    transaction.on_commit(run)


def send_on_commit(signal: Signal, *, sender: Any, **kwargs: Any) -> None:
    """Send `signal` after commit to every receiver; one that fails is logged, the others still run."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                logger.error("receiver %r of %r failed", receiver, signal, exc_info=result)

    transaction.on_commit(send)


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Queue the Celery `task` after commit (a broker outage is logged)."""
    run_on_commit(lambda: task.apply_async(args=args, kwargs=kwargs), description=f"queueing {task.name}")
