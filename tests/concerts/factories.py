"""Catalogue test data. Dates are made through `services.create_concert_date`, as in production,
so every date has its seats and its inventory row."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from apps.concerts import services
from apps.concerts.models import Concert, ConcertDate, Venue

# 4 VIP seats (row A) then 16 Floor seats (rows A and B): 20 seats a date.
LAYOUT = [
    {"name": "VIP", "rows": 1, "seats_per_row": 4, "price": "150000.00"},
    {"name": "Floor", "rows": 2, "seats_per_row": 8, "price": "50000.00"},
]


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Venue

    name = factory.Sequence(lambda n: f"Hall {n}")
    address = factory.Sequence(lambda n: f"{n} Olympic-ro, Seoul")
    layout = factory.LazyFunction(lambda: [dict(section) for section in LAYOUT])
    seat_count = factory.LazyAttribute(lambda venue: services.layout_seat_count(venue.layout))


class ConcertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Concert

    venue = factory.SubFactory(VenueFactory)
    name = factory.Sequence(lambda n: f"Tour {n}")
    artist = factory.Sequence(lambda n: f"Artist {n}")
    description = "Two sets and an encore."


def make_date(
    *,
    concert: Concert | None = None,
    starts_in: dt.timedelta = dt.timedelta(days=30),
    opens_in: dt.timedelta = -dt.timedelta(hours=1),
    booking_open: bool = True,
) -> ConcertDate:
    """A performance `starts_in` from now whose booking window opened `opens_in` from now."""
    now = timezone.now()
    date = services.create_concert_date(
        concert=concert or ConcertFactory(), starts_at=now + starts_in, booking_opens_at=now + opens_in
    )
    if not booking_open:
        services.set_booking_open(concert_date_ids=[date.pk], is_open=False)
        date.refresh_from_db()
    return date


def seat_ids(date: ConcertDate, count: int | None = None, section: str = "Floor") -> list[int]:
    ids = list(date.seats.filter(section=section).order_by("seat_num").values_list("pk", flat=True))
    return ids[:count] if count else ids
