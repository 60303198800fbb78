"""Test data. Dates are made through `services.create_concert_date`, as in production, so every
date has its seats and its inventory row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.concerts import services as catalogue
from apps.concerts.models import Concert, ConcertDate, Venue

DEFAULT_PASSWORD = "correct-horse-battery-9"

# 4 VIP seats (row A) then 16 Floor seats (rows A and B): 20 seats a date.
LAYOUT = [
    {"name": "VIP", "rows": 1, "seats_per_row": 4, "price": "150000.00"},
    {"name": "Floor", "rows": 2, "seats_per_row": 8, "price": "50000.00"},
]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"buyer{n}@example.com")
    name = factory.Faker("name")
    role = Role.USER
    balance = Decimal("0.00")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Venue

    name = factory.Sequence(lambda n: f"Hall {n}")
    address = factory.Sequence(lambda n: f"{n} Olympic-ro, Seoul")
    layout = factory.LazyFunction(lambda: [dict(section) for section in LAYOUT])
    seat_count = factory.LazyAttribute(lambda venue: catalogue.layout_seat_count(venue.layout))


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
    layout: list[dict] | None = None,
    starts_in: dt.timedelta = dt.timedelta(days=30),
    opens_in: dt.timedelta = -dt.timedelta(hours=1),
    booking_open: bool = True,
) -> ConcertDate:
    """A performance `starts_in` from now whose booking window opened `opens_in` from now, of a new
    concert at a new venue (seated by `layout`, LAYOUT by default) unless `concert` is given."""
    if concert is None:
        concert = ConcertFactory(venue=VenueFactory(layout=layout) if layout else VenueFactory())
    now = timezone.now()
    date = catalogue.create_concert_date(concert=concert, starts_at=now + starts_in, booking_opens_at=now + opens_in)
    if not booking_open:
        catalogue.set_booking_open(concert_date_ids=[date.pk], is_open=False)
        date.refresh_from_db()
    return date


def seat_ids(date: ConcertDate, count: int | None = None, section: str = "Floor") -> list[int]:
    """The ids of the date's seats in `section`, in seat order; the first `count` of them if given."""
    ids = list(date.seats.filter(section=section).order_by("seat_num").values_list("pk", flat=True))
    return ids[:count] if count else ids
