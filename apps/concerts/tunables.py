"""The knobs of the catalogue (see apps.common.tunables)."""

from apps.common.tunables import tunable

TUNABLES = (
    tunable(
        "SEAT_STATUS_POLL_SECONDS",
        5,
        unit="s",
        meaning="how often the buyer's page re-reads the seat status while choosing (spread ±20 %)",
    ),
    tunable(
        "DATE_FACTS_TTL_SECONDS",
        5.0,
        unit="s",
        meaning="how long a process keeps a date's facts (staff closing booking shows in others after this)",
    ),
)
