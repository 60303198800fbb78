"""Demo catalogue for `make run` (called by `manage.py seed_demo`)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from . import services
from .models import Concert, Venue

VENUES = [
    {
        "name": "Olympic Hall",
        "address": "424 Olympic-ro, Songpa-gu, Seoul",
        "layout": [
            {"name": "VIP", "rows": 2, "seats_per_row": 10, "price": "150000.00"},
            {"name": "R", "rows": 5, "seats_per_row": 20, "price": "120000.00"},
            {"name": "S", "rows": 10, "seats_per_row": 30, "price": "80000.00"},
        ],
    },
    {
        "name": "Blue Square",
        "address": "294 Itaewon-ro, Yongsan-gu, Seoul",
        "layout": [
            {"name": "A", "rows": 4, "seats_per_row": 10, "price": "99000.00"},
            {"name": "B", "rows": 6, "seats_per_row": 12, "price": "77000.00"},
        ],
    },
]

CONCERTS = [
    ("Olympic Hall", "The Golden Hour Tour", "IU", "Three hours of ballads and band versions.", [14, 15]),
    ("Olympic Hall", "Dynamite Nights", "BTS", "The comeback show, with the full band.", [30]),
    ("Blue Square", "Midnight Jazz Session", "Seoul Jazz Collective", "Standards and new work, two sets.", [7, 8]),
]


def seed_demo_catalogue() -> int:
    """Create the demo venues, concerts and dates (booking open now, shows in the future) once;
    return how many dates were created by this call."""
    created = 0
    with transaction.atomic():
        venues = {}
        for spec in VENUES:
            venue = Venue.objects.filter(name=spec["name"]).first()
            venues[spec["name"]] = venue or services.create_venue(**spec)
        for venue_name, name, artist, description, days in CONCERTS:
            concert = Concert.objects.filter(name=name).first()
            if concert is not None:
                continue
            concert = services.create_concert(
                venue=venues[venue_name], name=name, artist=artist, description=description
            )
            for day in days:
                starts = (timezone.now() + dt.timedelta(days=day)).replace(hour=19, minute=0, second=0, microsecond=0)
                services.create_concert_date(
                    concert=concert, starts_at=starts, booking_opens_at=timezone.now() - dt.timedelta(hours=1)
                )
                created += 1
    return created
