"""`manage.py checkin_export <date id> [--output FILE]`: everything a door scanner needs to work with
no network, as one JSON document: the public key that verifies every code, and every ticket of the
date with its code, seat and status (a void ticket's code still verifies, so the list says it is
void). docs/TICKETS.md shows how a scanner verifies a code with this file alone."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.concerts.models import ConcertDate
from apps.tickets import selectors
from apps.tickets.signing import ALGORITHM, public_key_base64

EXPORT_FORMAT = "ticketing.checkin-export.v1"


class Command(BaseCommand):
    help = "Write the codes and the public key a door scanner needs to check a date's tickets offline (JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("concert_date_id", type=int, help="The concert date (its id).")
        parser.add_argument("--output", "-o", default="-", help="A file to write (default: standard output).")

    def handle(self, *args: Any, concert_date_id: int, output: str, **options: Any) -> None:
        date = ConcertDate.objects.filter(pk=concert_date_id).select_related("concert").first()
        if date is None:
            raise CommandError(f"No concert date {concert_date_id}.")
        tickets = list(selectors.door_export(concert_date_id=date.pk))
        document = {
            "format": EXPORT_FORMAT,
            "exported_at": timezone.now().isoformat(),
            "concert_date_id": date.pk,
            "concert": date.concert.name,
            "starts_at": date.starts_at.isoformat(),
            "algorithm": ALGORITHM,
            "public_key": public_key_base64(),
            "tickets": tickets,
        }
        stream = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
        try:
            json.dump(document, stream, indent=1)
            stream.write("\n")
        finally:
            if stream is not sys.stdout:
                stream.close()
        if output != "-":
            self.stderr.write(f"{len(tickets)} tickets of date {date.pk} written to {output}")
