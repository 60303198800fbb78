from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.common import outbox


class Command(BaseCommand):
    help = (
        "Send outbox events back to the relay with a fresh attempt count: every FAILED one by default, "
        "or the events named by --id (--include-done to replay done ones; effects are idempotent). "
        "Then run the relay once, unless --no-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", type=int, action="append", dest="ids", help="an event id (repeatable)")
        parser.add_argument("--kind", help="only events of this kind, e.g. payments.completed")
        parser.add_argument("--include-done", action="store_true", help="with --id: replay DONE events too")
        parser.add_argument("--no-run", action="store_true", help="only make them due; beat's relay runs them")

    def handle(self, *args: Any, **options: Any) -> None:
        count = outbox.retry(event_ids=options["ids"], kind=options["kind"], include_done=options["include_done"])
        self.stdout.write(f"{count} event(s) due again")
        if not options["no_run"]:
            run = outbox.relay()
            self.stdout.write(
                self.style.SUCCESS(f"relay: {run.done} done, {run.retried} to retry, {run.failed} failed")
            )
