"""What the operator commands share."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class DevelopmentDataCommand(BaseCommand):
    """A command that writes the demo data (made-up concerts, logins with published passwords):
    refused when DEBUG is off, so it cannot run against a production database by mistake, unless
    `--force` says it is meant."""

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run although DEBUG is off (a demo deployment, on purpose)."
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        if not settings.DEBUG and not options.get("force"):
            raise CommandError(
                f"{self.__module__.rsplit('.', 1)[-1]} writes demo data for development; DEBUG is off, so this "
                "looks like production. Pass --force if this really is a demo deployment."
            )
        return super().execute(*args, **options)
