from django.core.management.base import BaseCommand

from apps.queue.selectors import dates_with_queues, queue_summary


class Command(BaseCommand):
    help = "Waiting, active, admitted per minute and the oldest wait, per concert date."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, help="Only this concert date id.")

    def handle(self, *args: object, **options: object) -> None:
        dates = [options["date"]] if options["date"] else dates_with_queues()
        self.stdout.write(f"{'date':>8} {'waiting':>9} {'active':>8} {'admitted/min':>13} {'oldest wait s':>14}")
        for date_id in dates:
            s = queue_summary(concert_date_id=date_id)
            oldest = "-" if s.oldest_wait_seconds is None else str(s.oldest_wait_seconds)
            self.stdout.write(f"{date_id:>8} {s.waiting:>9} {s.active:>8} {s.admitted_per_minute:>13} {oldest:>14}")
        if not dates:
            self.stdout.write("no concert date has a queue")
