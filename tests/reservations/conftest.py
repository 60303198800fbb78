import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.accounts import services as wallet
from apps.concerts import services as catalogue
from apps.concerts.models import ConcertDate

LAYOUT = [
    {"name": "VIP", "rows": 1, "seats_per_row": 4, "price": "150000.00"},
    {"name": "Floor", "rows": 2, "seats_per_row": 8, "price": "50000.00"},
]


def make_date(*, seats_layout=None, starts_in=dt.timedelta(days=30), booking_open=True) -> ConcertDate:
    venue = catalogue.create_venue(name="Olympic Hall", address="Seoul", layout=seats_layout or LAYOUT)
    concert = catalogue.create_concert(venue=venue, name="Spring Tour", artist="IU")
    date = catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + starts_in, booking_opens_at=timezone.now() - dt.timedelta(hours=1)
    )
    if not booking_open:
        catalogue.set_booking_open(concert_date_ids=[date.pk], is_open=False)
        date.refresh_from_db()
    return date


def seat_ids(date: ConcertDate, count: int | None = None, section: str = "Floor") -> list[int]:
    ids = list(date.seats.filter(section=section).order_by("seat_num").values_list("pk", flat=True))
    return ids[:count] if count else ids


def fund(user, amount: str = "1000000.00") -> None:
    wallet.charge(user=user, amount=Decimal(amount))


def queue_token(user, date) -> str:
    from apps.queue.services import issue_access_token

    return issue_access_token(user_id=user.pk, concert_date_id=date.pk).token


@pytest.fixture
def concert_date(db) -> ConcertDate:
    return make_date()
