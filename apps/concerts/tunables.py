"""The knobs of the catalogue (see apps.common.tunables)."""

from apps.common.tunables import seconds, tunable

TUNABLES = (
    seconds("SEAT_STATUS_POLL_SECONDS", 5, "how often the buyer's page re-reads the seat status (±20 %)"),
    seconds(
        "SEAT_MAP_TTL_SECONDS", 30, "a seat-map render is rebuilt from the database after this, whatever its version"
    ),
    tunable(
        "SEAT_MAP_LOCAL_BUDGET_BYTES",
        64 * 1024 * 1024,
        unit="bytes",
        meaning="each process keeps its recent seat-map renders up to this size (least recently used go first)",
    ),
    seconds("DATE_FACTS_TTL_SECONDS", 5.0, "a process keeps a date's facts this long (booking closed shows after it)"),
)
