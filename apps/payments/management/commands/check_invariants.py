import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from apps.payments.invariants import breaches


class Command(BaseCommand):
    help = "Check docs/DESIGN.md invariants 1-5 against the database; exit non-zero naming each breach."

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=60,
            help="How long past expires_at a hold may stay unreleased before it counts as a breach.",
        )

    def handle(self, *args: object, **options: object) -> None:
        found = breaches(grace=dt.timedelta(seconds=int(options["grace_seconds"])))
        failed = 0
        for name, problems in found.items():
            if problems:
                failed += 1
                self.stdout.write(self.style.ERROR(f"BREACH {name}:"))
                for problem in problems:
                    self.stdout.write(f"  - {problem}")
            else:
                self.stdout.write(self.style.SUCCESS(f"ok     {name}"))
        if failed:
            raise CommandError(f"{failed} invariant(s) breached")
