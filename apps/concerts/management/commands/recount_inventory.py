from django.core.management.base import BaseCommand, CommandError

from apps.concerts.models import ConcertDate
from apps.concerts.services import recount_inventory


class Command(BaseCommand):
    help = (
        "Rebuild a concert date's inventory counts from its seats, after seats were written outside the "
        "booking path (a bulk load, a repair by hand; check_invariants names the date). Locks the date's "
        "seats as a hold does, so it is safe during a sale."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, required=True)

    def handle(self, *args: object, **options: object) -> None:
        concert_date_id = options["date"]
        if not ConcertDate.objects.filter(pk=concert_date_id).exists():
            raise CommandError(f"No concert date {concert_date_id}.")
        recount_inventory(concert_date_id=concert_date_id)
        self.stdout.write(self.style.SUCCESS(f"date {concert_date_id}: inventory recounted from its seats"))
