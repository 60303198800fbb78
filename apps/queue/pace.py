"""What the line's scripts need to know of its polling pace (line.py tells waiters when to poll; the
scripts record when each poll is due, admission passes over a waiter far later than that)."""

from __future__ import annotations

from django.conf import settings


def poll_cap_seconds() -> int:
    """The longest a waiter is told to wait before the next poll: a third of the heartbeat timeout,
    so that two late polls in a row still keep the place."""
    return max(1, settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS // 3)


def pace_args() -> list[int]:
    """The pace the scripts bound a poll's interval by (lua/common.lua told_bound_ms, draw_prequeue):
    QUEUE_ADMIT_BATCH, QUEUE_POLL_BUDGET and the poll cap, as line.py uses them."""
    return [max(settings.QUEUE_ADMIT_BATCH, 1), max(settings.QUEUE_POLL_BUDGET, 1), poll_cap_seconds()]
