from django.core.management.base import BaseCommand, CommandError

from apps.queue.services import admit_next_batch


class Command(BaseCommand):
    help = "Admit the next waiters of a concert date now (within QUEUE_MAX_ACTIVE)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, required=True)
        parser.add_argument("--count", type=int, help="How many to admit (default QUEUE_ADMIT_BATCH).")

    def handle(self, *args: object, **options: object) -> None:
        if options["count"] is not None and options["count"] < 0:
            raise CommandError("--count must be zero or more")
        run = admit_next_batch(concert_date_id=options["date"], count=options["count"])
        self.stdout.write(
            self.style.SUCCESS(
                f"date {run.concert_date_id}: admitted {run.admitted}; now {run.active} active, {run.waiting} waiting"
            )
        )
