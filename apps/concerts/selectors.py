"""Catalogue reads: concerts, dates with availability, available seats, and the few facts about a date
that the hot paths need (the seat map is read through `seat_map`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass

from django.db.models import Max, Min, Prefetch, Q, QuerySet
from django.utils import timezone

from apps.common.exceptions import NotFound

from .models import Concert, ConcertDate, Seat, SeatStatus

logger = logging.getLogger(__name__)


def list_concerts() -> QuerySet[Concert]:
    return (
        Concert.objects.select_related("venue")
        .annotate(first_date=Min("dates__starts_at"), last_date=Max("dates__starts_at"))
        .order_by("id")
    )


def _dates() -> QuerySet[ConcertDate]:
    return ConcertDate.objects.select_related("inventory").order_by("starts_at", "id")


def get_concert(*, concert_id: int) -> Concert:
    concert = (
        Concert.objects.select_related("venue")
        .prefetch_related(Prefetch("dates", queryset=_dates()))
        .filter(pk=concert_id)
        .first()
    )
    if concert is None:
        raise NotFound("Concert not found.")
    return concert


def dates_with_availability(*, concert_id: int) -> list[ConcertDate]:
    if not Concert.objects.filter(pk=concert_id).exists():
        raise NotFound("Concert not found.")
    return list(_dates().filter(concert_id=concert_id))


def remaining_seats(concert_date: ConcertDate) -> int:
    inventory = getattr(concert_date, "inventory", None)
    return inventory.remaining if inventory is not None else 0


def in_booking_window(
    *, booking_open: bool, booking_opens_at: dt.datetime, starts_at: dt.datetime, now: dt.datetime | None = None
) -> bool:
    """The booking rule: staff have not closed the date, its window has opened and the show has not started."""
    now = now or timezone.now()
    return booking_open and booking_opens_at <= now < starts_at


def is_available(concert_date: ConcertDate, now: dt.datetime | None = None) -> bool:
    """Bookable now (the booking rule) with seats left."""
    return (
        in_booking_window(
            booking_open=concert_date.booking_open,
            booking_opens_at=concert_date.booking_opens_at,
            starts_at=concert_date.starts_at,
            now=now,
        )
        and remaining_seats(concert_date) > 0
    )


def available_seats(*, concert_date_id: int, now: dt.datetime | None = None) -> QuerySet[Seat]:
    """Seats a buyer can hold now: AVAILABLE, or HELD with a hold that has expired (`held_until` is
    the authority; the sweep only tidies up). Both arms are ranges of the (concert_date, status) index."""
    now = now or timezone.now()
    return Seat.objects.filter(
        Q(status=SeatStatus.AVAILABLE) | Q(status=SeatStatus.HELD, held_until__lte=now),
        concert_date_id=concert_date_id,
    ).order_by("seat_num")


# --- Date facts for the hot paths ----------------------------------------------------------------
#
# The few facts about a concert date that queue polls and holds need, kept in process memory for a
# few seconds so those paths do not read the date row on every request (DESIGN.md, "Hot paths").
# Staff closing booking shows in this process at once and in others within DATE_FACTS_TTL_SECONDS.

DATE_FACTS_TTL_SECONDS = 5.0

_facts: dict[int, tuple[float, DateFacts | None]] = {}
_facts_lock = threading.Lock()


@dataclass(frozen=True)
class DateFacts:
    concert_date_id: int
    concert_id: int
    starts_at: dt.datetime
    booking_opens_at: dt.datetime
    booking_open: bool
    layout_version: int

    def booking_open_now(self) -> bool:
        return in_booking_window(
            booking_open=self.booking_open, booking_opens_at=self.booking_opens_at, starts_at=self.starts_at
        )


def date_facts(concert_date_id: int) -> DateFacts | None:
    now = time.monotonic()
    cached = _facts.get(concert_date_id)
    if cached and cached[0] > now:
        return cached[1]
    row = (
        ConcertDate.objects.filter(pk=concert_date_id)
        .values_list("concert_id", "starts_at", "booking_opens_at", "booking_open", "layout_version")
        .first()
    )
    facts = DateFacts(concert_date_id, *row) if row else None
    with _facts_lock:
        if len(_facts) > 10_000:
            _facts.clear()
        _facts[concert_date_id] = (now + DATE_FACTS_TTL_SECONDS, facts)
    return facts


def date_of_concert(*, concert_id: int, concert_date_id: int) -> DateFacts:
    """The facts of a concert date that belongs to this concert; NOT_FOUND for an unknown date or
    one of another concert (so that an id never reveals another concert's dates)."""
    facts = date_facts(concert_date_id)
    if facts is None or facts.concert_id != concert_id:
        raise NotFound("Concert date not found.")
    return facts


def forget_dates() -> None:
    _facts.clear()
