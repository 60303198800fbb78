"""Best-effort updates of a cache after commit that must not be replayed (nothing reacts to a rollback).

An effect that a committed change owes the world goes through the outbox (`apps.common.outbox.emit`):
run at commit, guaranteed by the relay, idempotent. This is for the few updates that are neither
owed nor idempotent: a delta applied to a count that rebuilds itself from the database (the waiting
room's seat counts), where a replay would count twice and a lost update only shows until the rebuild.
A failure is logged, never raised into the request that committed. An update that is one Lua script
goes through `script_on_commit`: in a booking request it travels in the request's one Redis round trip
after commit (`apps.common.lua.one_round_trip`)."""

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from . import lua

logger = logging.getLogger(__name__)


def run_on_commit(effect: Callable[[], Any], *, description: str) -> None:
    """Call `effect()` after commit; an exception it raises is logged with `description`."""

    def run() -> None:
        try:
            effect()
        except Exception:
            logger.exception("after commit: %s failed", description)

    transaction.on_commit(run)


def script_on_commit(call: lua.Call, *, description: str) -> None:
    """`run_on_commit` for an update that is one script: after commit it runs at once, or in the
    request's one round trip when one is open (`lua.run_soon`); a failure is logged with `description`."""

    def failed(exc: Exception) -> None:
        logger.error("after commit: %s failed", description, exc_info=exc)

    transaction.on_commit(lambda: lua.run_soon(call, failed=failed))
