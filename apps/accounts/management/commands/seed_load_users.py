"""Buyers for load tests: `manage.py seed_load_users --users U [--balance B]` (the catalogue side is
`manage.py seed_load`).

Idempotent and resumable: users that exist are kept, missing ones are added. Users are
load0@example.com, load1@example.com, … with the password `load-test-pass-1` and a wallet of
--balance, written as a CHARGE ledger entry so that the balance equals the ledger (invariant 3).
"""

from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from apps.accounts.models import LedgerKind, User, WalletTransaction

LOAD_PASSWORD = "load-test-pass-1"
BATCH = 2000


def load_email(n: int) -> str:
    return f"load{n}@example.com"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, default=1_000)
        parser.add_argument("--balance", type=Decimal, default=Decimal("1000000.00"))

    def handle(self, *args: object, **options: object) -> None:
        count, balance = options["users"], options["balance"]
        if count < 0 or balance < 0:
            raise CommandError("need --users >= 0 and --balance >= 0")
        created = self._create_missing(count, balance)
        self.stdout.write(
            self.style.SUCCESS(
                f"{created} new users ({load_email(0)} … {load_email(max(count - 1, 0))} / {LOAD_PASSWORD})"
            )
        )

    def _create_missing(self, count: int, balance: Decimal) -> int:
        password = make_password(LOAD_PASSWORD)
        have = set(
            User.objects.filter(email__startswith="load", email__endswith="@example.com").values_list(
                "email", flat=True
            )
        )
        missing = [n for n in range(count) if load_email(n) not in have]
        for start in tqdm(range(0, len(missing), BATCH), desc="users", unit="batch", disable=not missing):
            chunk = missing[start : start + BATCH]
            emails = [load_email(n) for n in chunk]
            with transaction.atomic():
                User.objects.bulk_create(
                    [
                        User(email=load_email(n), name=f"Load {n}", password=password, balance=balance,
                             email_verified=True)
                        for n in chunk
                    ],
                    batch_size=BATCH,
                )  # fmt: skip
                if balance > 0:
                    WalletTransaction.objects.bulk_create(
                        [
                            WalletTransaction(user_id=pk, kind=LedgerKind.CHARGE, amount=balance, balance_after=balance,
                                              reference="load test wallet")
                            for pk in User.objects.filter(email__in=emails).values_list("pk", flat=True)
                        ],
                        batch_size=BATCH,
                    )  # fmt: skip
        return len(missing)
