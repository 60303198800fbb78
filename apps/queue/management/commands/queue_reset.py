from django.core.management.base import BaseCommand

from apps.queue.services import reset_queue


class Command(BaseCommand):
    help = "Empty a concert date's waiting line and revoke all of its access tokens."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, required=True)

    def handle(self, *args: object, **options: object) -> None:
        reset_queue(concert_date_id=options["date"])
        self.stdout.write(self.style.SUCCESS(f"date {options['date']}: queue emptied, access tokens revoked"))
