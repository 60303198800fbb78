"""Best-effort updates of a cache after commit that must not be replayed (nothing reacts to a rollback).

An effect that a committed change owes the world goes through the outbox (`apps.common.outbox.emit`):
run at commit, guaranteed by the relay, idempotent. This is for the few updates that are neither
owed nor idempotent: a delta applied to a count that rebuilds itself from the database (the waiting
room's seat counts), where a replay would count twice and a lost update only shows until the rebuild.
A failure is logged, never raised into the request that committed."""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def run_on_commit(effect: Callable[[], Any], *, description: str) -> None:
    """Call `effect()` after commit; an exception it raises is logged with `description`."""

    def run() -> None:
        try:
            effect()
        except Exception:
            logger.exception("after commit: %s failed", description)

    transaction.on_commit(run)
