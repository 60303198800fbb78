"""The knobs of the catalogue (see apps.common.tunables)."""

from apps.common.tunables import seconds

TUNABLES = (
    seconds("SEAT_STATUS_POLL_SECONDS", 5, "how often the buyer's page re-reads the seat status (±20 %)"),
    seconds("DATE_FACTS_TTL_SECONDS", 5.0, "a process keeps a date's facts this long (booking closed shows after it)"),
)
