"""The knobs of reservations (see apps.common.tunables)."""

from apps.common.tunables import tunable

TUNABLES = (
    tunable("HOLD_TTL_SECONDS", 300, unit="s", meaning="how long a seat hold lasts"),
    tunable("HOLD_SWEEP_INTERVAL_SECONDS", 5, unit="s", meaning="how often expired holds are released"),
    tunable("HOLD_SWEEP_BATCH", 200, unit="count", meaning="expired holds one sweep releases per batch"),
    tunable("MAX_SEATS_PER_RESERVATION", 4, unit="count", meaning="seats in one reservation"),
    tunable("MAX_LIVE_HOLDS_PER_USER_PER_DATE", 2, unit="count", meaning="live holds one user may have on one date"),
)
