"""Outbox effects the catalogue performs (see apps.common.outbox)."""

from apps.common.lua import Call
from apps.common.models import OutboxEvent
from apps.common.outbox import effect

from .seat_map import seat_map_bump

SEAT_MAP_CHANGED = "concerts.seat_map_changed"


@effect(SEAT_MAP_CHANGED, coalesce=True)
def drop_seat_map(event: OutboxEvent) -> Call:
    """Seats of the date changed: its cached map is stale. Dropping it twice only costs a rebuild. One
    script, returned for the outbox to run (after commit, in the booking request's one round trip)."""
    return seat_map_bump(concert_date_id=event.payload["concert_date_id"], seat_ids=event.payload.get("seat_ids"))
