from django.core.management.base import BaseCommand, CommandError

from apps.queue import draw


class Command(BaseCommand):
    help = (
        "Check a concert date's published draw from its two public URLs alone (no database, no Redis): "
        "the secret opens the commitment, the keys are ascending and one per entrant; with --user-id and "
        "--nonce, recompute that buyer's key and print its place. Exits non-zero on any failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("concert_id", type=int)
        parser.add_argument("concert_date_id", type=int)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the API answers.")
        parser.add_argument("--user-id", type=int, help="A buyer's user id (with --nonce).")
        parser.add_argument("--nonce", help="That buyer's draw_nonce, as the pre-queue entry answered it.")
        parser.add_argument(
            "--commitment", help="The commitment noted before the draw (GET …/draw then): it must not have changed."
        )

    def handle(self, *args: object, **options: object) -> None:
        if (options["user_id"] is None) != (options["nonce"] is None):
            raise CommandError("--user-id and --nonce go together")
        published = draw.fetch(options["base_url"], options["concert_id"], options["concert_date_id"])
        if published.errors:
            raise CommandError("; ".join(published.errors))
        order = published.order or []
        found = draw.problems(published.draw, order)
        if options["commitment"] and options["commitment"] != published.draw.get("commitment"):
            found.append("the published commitment is not the commitment noted before the draw")
        if found:
            raise CommandError("the draw does not check out: " + "; ".join(found))
        secret = published.draw["secret"]
        self.stdout.write(
            f"draw of date {options['concert_date_id']}: secret opens the commitment "
            f"{published.draw['commitment']}; {len(order)} keys ascending, one per entrant"
        )
        if options["user_id"] is not None:
            place = draw.place_of(order, secret=secret, user_id=options["user_id"], nonce=options["nonce"])
            if place is None:
                raise CommandError(f"user {options['user_id']}'s key is not in the published order")
            self.stdout.write(f"user {options['user_id']}: place {place} of {len(order)}")
        self.stdout.write(self.style.SUCCESS("verified"))
