"""The few facts about a concert date that the queue needs, kept in process memory for a few
seconds: enter and status are polled by crowds and must not reach the database each time
(DESIGN.md, "Hot paths"). Staff closing booking shows within DATE_FACTS_TTL_SECONDS."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

from django.utils import timezone

from apps.concerts.models import ConcertDate

DATE_FACTS_TTL_SECONDS = 5.0

_cache: dict[int, tuple[float, DateFacts | None]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class DateFacts:
    concert_date_id: int
    concert_id: int
    starts_at: dt.datetime
    booking_opens_at: dt.datetime
    booking_open: bool

    def booking_open_now(self) -> bool:
        now = timezone.now()
        return self.booking_open and self.booking_opens_at <= now < self.starts_at


def date_facts(concert_date_id: int) -> DateFacts | None:
    now = time.monotonic()
    cached = _cache.get(concert_date_id)
    if cached and cached[0] > now:
        return cached[1]
    row = (
        ConcertDate.objects.filter(pk=concert_date_id)
        .values_list("concert_id", "starts_at", "booking_opens_at", "booking_open")
        .first()
    )
    facts = DateFacts(concert_date_id, *row) if row else None
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[concert_date_id] = (now + DATE_FACTS_TTL_SECONDS, facts)
    return facts


def forget_dates() -> None:
    _cache.clear()
