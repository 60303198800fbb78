"""The knobs of the waiting room (see apps.common.tunables; docs/QUEUE.md explains the controller)."""

from collections.abc import Mapping
from typing import Any

from apps.common.tunables import count, ratio, seconds, tunable

AUTO_OR_FIXED = (
    "`auto`: at the rate buyers leave the booking path, braked by its p95; `fixed`: `QUEUE_ADMIT_BATCH` a run"
)


def _by_admission(earlier: Mapping[str, Any]) -> int:
    """2 (`fixed`: 10)"""
    return 10 if earlier["QUEUE_ADMISSION"] == "fixed" else 2


TUNABLES = (
    tunable("QUEUE_ADMISSION", "auto", choices=("auto", "fixed"), unit="", meaning=AUTO_OR_FIXED),
    seconds("QUEUE_ADMIT_INTERVAL_SECONDS", _by_admission, "how often the queue admits"),
    ratio("QUEUE_ADMIT_MARGIN", 1.1, "`auto`, healthy: a run admits this many times the departures it replaces"),
    count("QUEUE_ADMIT_BATCH", 110, "`fixed`: the most users one run admits per date"),
    count(
        "QUEUE_MIN_ACTIVE",
        50,
        "`auto`: the fewest admitted users per date it aims at; a healthy run grows by half of it at least",
    ),
    count("QUEUE_MAX_ACTIVE", 660, "the most admitted users per date at a time (`fixed`: the cap)"),
    tunable("QUEUE_TARGET_P95_MS", 600, unit="ms", meaning="`auto`: the hold/payment p95 the controller keeps under"),
    seconds("QUEUE_PREQUEUE_SECONDS", 900, "buyers may enter this long before the sale; places drawn at the opening"),
    seconds(
        "QUEUE_ACTIVE_IDLE_SECONDS", 120, "an admitted buyer idle this long (and holding no seats) loses the place"
    ),
    seconds("QUEUE_TOKEN_TTL_SECONDS", 600, "how long a queue access token lasts"),
    seconds(
        "QUEUE_HEARTBEAT_TIMEOUT_SECONDS", 540, "a waiter silent this long loses the place (polls ≤ ⅓ of it apart)"
    ),
    seconds(
        "QUEUE_POLL_GRACE_SECONDS",
        60,
        "a waiter this late for the poll it was told is passed over by admission until it polls again",
    ),
    tunable("QUEUE_POLL_BUDGET", 150, unit="req/s", meaning="polls a second one date's waiting room is paced to cost"),
    tunable(
        "QUEUE_STATUS_FAST_PATH",
        True,
        unit="",
        meaning="status polls answered before the other middlewares and DRF's dispatch (same answer, less CPU)",
    ),
    tunable(
        "QUEUE_ENTRY_FAST_PATH",
        True,
        unit="",
        meaning="queue entries answered before the other middlewares and DRF's dispatch (same answer, less CPU)",
    ),
    seconds("QUEUE_EVENTS_CHECK_SECONDS", 1.0, "the push process reads a listened date's seat counts this often"),
    seconds("QUEUE_EVENTS_KEEPALIVE_SECONDS", 50, "a quiet event stream gets a keep-alive comment this often"),
    count("QUEUE_EVENTS_MAX_CONNECTIONS", 15000, "event streams one push process holds at most (then 503)"),
)
