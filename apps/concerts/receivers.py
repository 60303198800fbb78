"""What the catalogue does on domain events (connected in ConcertsConfig.ready)."""

import logging
from typing import Any

from django.dispatch import receiver

from .seat_counts import apply_seat_count_change
from .seat_map import invalidate_seat_map
from .signals import seats_changed

logger = logging.getLogger(__name__)


@receiver(seats_changed, dispatch_uid="concerts.invalidate_seat_map")
def drop_cached_seat_map(
    sender: Any,
    concert_date_id: int,
    seat_ids: list[int] | None = None,
    available: int = 0,
    held: int = 0,
    **kwargs: Any,
) -> None:
    try:
        invalidate_seat_map(concert_date_id=concert_date_id, seat_ids=seat_ids)
    except Exception:
        # The change is committed; failing here would only turn it into an error. The stored map's
        # SEAT_MAP_TTL_SECONDS bounds how long a missed invalidation can show a stale status.
        logger.exception("could not invalidate the seat map of date %s", concert_date_id)
    try:
        apply_seat_count_change(concert_date_id=concert_date_id, available=available, held=held)
    except Exception:
        # As above: the counts are rebuilt from the database within COUNTS_TTL_SECONDS.
        logger.exception("could not move the seat counts of date %s", concert_date_id)
