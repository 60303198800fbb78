"""Outbox effects the catalogue performs (see apps.common.outbox)."""

from apps.common.models import OutboxEvent
from apps.common.outbox import effect

from .seat_map import invalidate_seat_map

SEAT_MAP_CHANGED = "concerts.seat_map_changed"


@effect(SEAT_MAP_CHANGED, coalesce=True)
def drop_seat_map(event: OutboxEvent) -> None:
    """Seats of the date changed: its cached map is stale. Dropping it twice only costs a rebuild."""
    invalidate_seat_map(concert_date_id=event.payload["concert_date_id"], seat_ids=event.payload.get("seat_ids"))
