from django.core.management.base import BaseCommand

from apps.queue.selectors import dates_with_queues, describe, describe_decision, queue_summary


class Command(BaseCommand):
    help = (
        "Per concert date: the admission mode and target, active, waiting and pre-queued buyers, the draw, "
        "admitted per minute, the oldest wait, and the admission controller's last decisions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=int, help="Only this concert date id.")

    def handle(self, *args: object, **options: object) -> None:
        dates = [options["date"]] if options["date"] else dates_with_queues()
        for date_id in dates:
            summary = queue_summary(concert_date_id=date_id)
            self.stdout.write(f"date {date_id}: {describe(summary)}")
            for decision in summary.decisions:
                self.stdout.write(f"    {describe_decision(decision)}")
        if not dates:
            self.stdout.write("no concert date has a queue")
