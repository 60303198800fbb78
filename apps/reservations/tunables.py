"""The knobs of reservations (see apps.common.tunables)."""

from apps.common.tunables import count, seconds, tunable

TUNABLES = (
    seconds("HOLD_TTL_SECONDS", 300, "how long a seat hold lasts"),
    seconds("HOLD_SWEEP_INTERVAL_SECONDS", 5, "how often expired holds are released"),
    count("HOLD_SWEEP_BATCH", 200, "expired holds one sweep releases per batch"),
    count("MAX_SEATS_PER_RESERVATION", 4, "seats in one reservation"),
    count("MAX_LIVE_HOLDS_PER_USER_PER_DATE", 2, "live holds one user may have on one date"),
    count("MAX_SEATS_PER_BUYER_PER_DATE", 8, "seats one buyer may hold and own for one date, holds and bookings"),
    tunable(
        "HOLD_FAST_PATH",
        True,
        unit="",
        meaning="holds answered before the other middlewares and DRF's dispatch (same answer, less CPU)",
    ),
    tunable(
        "HOLD_PROCEDURE",
        True,
        unit="",
        meaning="on MariaDB a hold's transaction is one call of a stored procedure (same rows, one round trip)",
    ),
)
