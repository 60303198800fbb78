from django.core.management.base import BaseCommand, CommandError

from apps.queue.services import admit_next_batch


class Command(BaseCommand):
    help = "Run one admission for a concert date now (up to the target, or QUEUE_MAX_ACTIVE in fixed mode)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, required=True)
        parser.add_argument(
            "--count", type=int, help="Admit at most this many (default: as the admission mode decides)."
        )

    def handle(self, *args: object, **options: object) -> None:
        if options["count"] is not None and options["count"] < 0:
            raise CommandError("--count must be zero or more")
        run = admit_next_batch(concert_date_id=options["date"], count=options["count"])
        self.stdout.write(
            self.style.SUCCESS(
                f"date {run.concert_date_id}: admitted {run.admitted}; now {run.active} active, {run.waiting} waiting"
            )
        )
