"""A catalogue for load tests: `manage.py seed_load --dates N --seats-per-date M` (one concert, N
dates of M seats; its buyers come from `manage.py seed_load_users`).

Idempotent and resumable: dates that exist are kept, missing ones are added.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from apps.concerts import services
from apps.concerts.models import Concert, Venue

BATCH = 2000


def load_layout(seats: int) -> list[dict]:
    """Rows of 100 in sections of at most 200 rows (validate_layout's limit), the rest in a balcony."""
    per_row = min(seats, 100)
    full_rows, rest = divmod(seats, per_row)
    blocks = [min(200, full_rows - start) for start in range(0, full_rows, 200)]
    layout = [
        {"name": "Floor" if i == 0 else f"Floor {i + 1}", "rows": rows, "seats_per_row": per_row, "price": "50000.00"}
        for i, rows in enumerate(blocks)
    ]
    if rest:
        layout.append({"name": "Balcony", "rows": 1, "seats_per_row": rest, "price": "30000.00"})
    return layout


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dates", type=int, default=1)
        parser.add_argument("--seats-per-date", type=int, default=10_000)
        parser.add_argument("--name", default="Load Test", help="Concert name (one concert holds the dates).")

    def handle(self, *args: object, **options: object) -> None:
        dates, seats = options["dates"], options["seats_per_date"]
        if dates < 0 or seats < 1 or seats > 100_000:
            raise CommandError("need --dates >= 0 and 1 <= --seats-per-date <= 100000")
        concert = self._load_test_concert(options["name"], seats)
        existing = concert.dates.count()
        missing = max(0, dates - existing)
        with tqdm(total=missing * concert.venue.seat_count, desc="seats", unit="seat", disable=not missing) as bar:
            for _ in range(missing):
                services.create_concert_date(
                    concert=concert,
                    starts_at=timezone.now() + dt.timedelta(days=30 + concert.dates.count()),
                    booking_opens_at=timezone.now() - dt.timedelta(hours=1),
                    batch_size=BATCH,
                    progress=bar.update,
                )
        date_ids = list(concert.dates.order_by("pk").values_list("pk", flat=True))
        self.stdout.write(
            self.style.SUCCESS(f"concert {concert.pk}: dates {date_ids} with {concert.venue.seat_count} seats each")
        )

    def _load_test_concert(self, name: str, seats: int) -> Concert:
        concert = Concert.objects.filter(name=name).select_related("venue").first()
        if concert is not None:
            if concert.venue.seat_count != seats:
                raise CommandError(f"{name!r} exists with {concert.venue.seat_count} seats per date, not {seats}")
            return concert
        layout = load_layout(seats)
        venue = Venue.objects.filter(name=f"{name} Arena").first() or services.create_venue(
            name=f"{name} Arena", address="Loopback", layout=layout
        )
        return services.create_concert(venue=venue, name=name, artist="Load Generator")
