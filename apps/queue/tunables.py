"""The knobs of the waiting room (see apps.common.tunables; docs/QUEUE.md explains the controller)."""

from collections.abc import Mapping
from typing import Any

from apps.common.tunables import count, ratio, seconds, tunable

AUTO_OR_FIXED = "`auto`: as many as the booking path's p95 allows; `fixed`: `QUEUE_ADMIT_BATCH` a run"


def _by_admission(earlier: Mapping[str, Any]) -> int:
    """2 (`fixed`: 10)"""
    return 10 if earlier["QUEUE_ADMISSION"] == "fixed" else 2


TUNABLES = (
    tunable("QUEUE_ADMISSION", "auto", choices=("auto", "fixed"), unit="", meaning=AUTO_OR_FIXED),
    seconds("QUEUE_ADMIT_INTERVAL_SECONDS", _by_admission, "how often the queue admits"),
    count("QUEUE_ADMIT_BATCH", 110, "`fixed`: the most users one run admits per date"),
    count("QUEUE_MIN_ACTIVE", 50, "`auto`: the fewest admitted users per date it aims at"),
    count("QUEUE_MAX_ACTIVE", 660, "the most admitted users per date at a time (`fixed`: the cap)"),
    tunable("QUEUE_TARGET_P95_MS", 300, unit="ms", meaning="`auto`: the hold/payment p95 the controller keeps under"),
    seconds("QUEUE_PREQUEUE_SECONDS", 900, "buyers may enter this long before the sale; places drawn at the opening"),
    seconds(
        "QUEUE_ACTIVE_IDLE_SECONDS", 120, "an admitted buyer idle this long (and holding no seats) loses the place"
    ),
    seconds("QUEUE_TOKEN_TTL_SECONDS", 600, "how long a queue access token lasts"),
    seconds(
        "QUEUE_HEARTBEAT_TIMEOUT_SECONDS", 540, "a waiter silent this long loses the place (polls ≤ ⅓ of it apart)"
    ),
    tunable("QUEUE_POLL_BUDGET", 150, unit="req/s", meaning="polls a second one date's waiting room is paced to cost"),
    # The admission controller (apps.queue.controller).
    seconds("QUEUE_LATENCY_HISTOGRAM_TTL_SECONDS", 120, "how long one second's booking-latency histogram is kept"),
    seconds("QUEUE_CONTROLLER_LOOKBACK_SECONDS", 60, "the furthest back a decision reads"),
    count("QUEUE_CONTROLLER_MIN_SAMPLES", 10, "requests the p95 needs before it can cut (a shed needs one)"),
    ratio("QUEUE_CONTROLLER_HEADROOM", 0.8, "the target grows only while p95 is at most this share of the goal"),
    ratio("QUEUE_CONTROLLER_CUT_AIM", 0.9, "a cut aims the p95 at this share of the goal"),
    ratio("QUEUE_CONTROLLER_MILDEST_CUT", 0.9, "a cut leaves at most this share of the target"),
    ratio("QUEUE_CONTROLLER_DEEPEST_CUT", 0.5, "a cut leaves at least this share (a shed cuts this deep)"),
    ratio("QUEUE_CONTROLLER_CLEAR_OVERLOAD", 1.5, "p95 this far over the goal cuts at once, else after 2 intervals"),
    count("QUEUE_CONTROLLER_CUT_HOLD_INTERVALS", 2, "admission runs that pass after a cut before the next cut"),
)
