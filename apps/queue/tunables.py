"""The knobs of the waiting room (see apps.common.tunables; docs/QUEUE.md explains the controller)."""

from apps.common.tunables import tunable

TUNABLES = (
    tunable(
        "QUEUE_ADMISSION",
        "auto",
        choices=("auto", "fixed"),
        unit="",
        meaning="`auto`: admit as many as the booking path's latency allows (an AIMD controller between "
        "`QUEUE_MIN_ACTIVE` and `QUEUE_MAX_ACTIVE`); `fixed`: up to `QUEUE_ADMIT_BATCH` per run",
    ),
    tunable(
        "QUEUE_ADMIT_INTERVAL_SECONDS",
        lambda earlier: 10 if earlier["QUEUE_ADMISSION"] == "fixed" else 2,
        cast=int,
        shown_default="2 (`fixed`: 10)",
        unit="s",
        meaning="how often the queue admits",
    ),
    tunable("QUEUE_ADMIT_BATCH", 110, unit="count", meaning="`fixed`: the most users one run admits per date"),
    tunable("QUEUE_MIN_ACTIVE", 50, unit="count", meaning="`auto`: the fewest admitted users per date it aims at"),
    tunable(
        "QUEUE_MAX_ACTIVE",
        660,
        unit="count",
        meaning="the most admitted users per date at a time (`fixed`: the cap)",
    ),
    tunable("QUEUE_TARGET_P95_MS", 300, unit="ms", meaning="`auto`: the hold/payment p95 the controller keeps under"),
    tunable(
        "QUEUE_PREQUEUE_SECONDS",
        900,
        unit="s",
        meaning="how long before the sale opens buyers may enter; their places are drawn at the opening",
    ),
    tunable(
        "QUEUE_ACTIVE_IDLE_SECONDS",
        120,
        unit="s",
        meaning="an admitted buyer idle this long (and holding no seats) loses the place",
    ),
    tunable("QUEUE_TOKEN_TTL_SECONDS", 600, unit="s", meaning="how long a queue access token lasts"),
    tunable(
        "QUEUE_HEARTBEAT_TIMEOUT_SECONDS",
        540,
        unit="s",
        meaning="a waiter silent this long loses the place; waiters poll at most a third of it apart",
    ),
    tunable(
        "QUEUE_POLL_BUDGET",
        150,
        unit="req/s",
        meaning="polls a second one date's waiting room is paced to cost",
    ),
    # The admission controller (apps.queue.controller).
    tunable(
        "QUEUE_LATENCY_HISTOGRAM_TTL_SECONDS",
        120,
        unit="s",
        meaning="how long one second's booking-latency histogram is kept",
    ),
    tunable(
        "QUEUE_CONTROLLER_LOOKBACK_SECONDS",
        60,
        unit="s",
        meaning="the furthest back a decision reads (a run that was down does not judge stale traffic)",
    ),
    tunable(
        "QUEUE_CONTROLLER_MIN_SAMPLES",
        10,
        unit="count",
        meaning="requests the p95 needs before it can cut the target (a shed needs one)",
    ),
    tunable(
        "QUEUE_CONTROLLER_HEADROOM",
        0.8,
        unit="ratio",
        meaning="the target grows only while p95 is at most this share of the goal",
    ),
    tunable("QUEUE_CONTROLLER_CUT_AIM", 0.9, unit="ratio", meaning="a cut aims the p95 at this share of the goal"),
    tunable("QUEUE_CONTROLLER_MILDEST_CUT", 0.9, unit="ratio", meaning="a cut leaves at most this share of the target"),
    tunable(
        "QUEUE_CONTROLLER_DEEPEST_CUT",
        0.5,
        unit="ratio",
        meaning="a cut leaves at least this share of the target (a shed cuts this deep)",
    ),
    tunable(
        "QUEUE_CONTROLLER_CLEAR_OVERLOAD",
        1.5,
        unit="ratio",
        meaning="p95 this far over the goal cuts at once; less needs a second interval to confirm it",
    ),
    tunable(
        "QUEUE_CONTROLLER_CUT_HOLD_INTERVALS",
        2,
        unit="count",
        meaning="admission runs that pass after a cut before the next cut",
    ),
)
