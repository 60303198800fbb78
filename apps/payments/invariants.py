"""Checks of docs/DESIGN.md invariants 1-5 against the live database (`manage.py check_invariants`).
They span seats, reservations, payments and wallets, so they live here, in the app on top of those.

Each check returns human-readable breaches; an empty list means the invariant holds. They are
read-only queries (aggregates, and for invariant 2 the ids of the AVAILABLE seats, streamed), cheap
enough to run after every race test and on a live system.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, Round
from django.utils import timezone

from apps.accounts.models import LedgerKind, User, WalletTransaction
from apps.concerts.models import Inventory, Seat, SeatStatus, inventory_shard_of
from apps.reservations.models import LIVE_STATUSES, Reservation, ReservationItem, ReservationStatus

from .models import Payment, PaymentStatus

LIMIT = 20  # breaches listed per check; the count says how many there are


def cents(expression: Any) -> Cast:
    """A money column as an exact integer number of cents. SQLite keeps decimals as binary floats and
    sums them in floating point (0.10 + 0.20 is not 0.30 there), so money is compared and summed in
    integer cents on every backend: each amount rounds to its exact cents, and integers add exactly."""
    return Cast(Round(expression * Value(100)), BigIntegerField())


def as_money(cents_value: int) -> Decimal:
    return Decimal(cents_value).scaleb(-2)


def seat_held_by_one_live_reservation() -> list[str]:
    """1. A seat is held or reserved by at most one live reservation, and its status says so."""
    breaches = []
    doubled = (
        ReservationItem.objects.filter(reservation__status__in=LIVE_STATUSES)
        .values("seat_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    breaches += [f"seat {row['seat_id']} is in {row['n']} live reservations" for row in doubled[:LIMIT]]
    expected = {ReservationStatus.HELD: SeatStatus.HELD, ReservationStatus.CONFIRMED: SeatStatus.RESERVED}
    for reservation_status, seat_status in expected.items():
        wrong = ReservationItem.objects.filter(reservation__status=reservation_status).exclude(seat__status=seat_status)
        breaches += [
            f"seat {seat_id} of {reservation_status} reservation {reservation_id} is not {seat_status}"
            for seat_id, reservation_id in wrong.values_list("seat_id", "reservation_id")[:LIMIT]
        ]
    orphaned = Seat.objects.exclude(status=SeatStatus.AVAILABLE).filter(live_reservation_item__isnull=True)
    breaches += [
        f"seat {pk} is {status} with no live reservation" for pk, status in orphaned.values_list("pk", "status")[:LIMIT]
    ]
    stale_claims = ReservationItem.objects.filter(live_seat__isnull=False).exclude(
        reservation__status__in=LIVE_STATUSES
    )
    breaches += [
        f"ended reservation {reservation_id} still claims seat {seat_id}"
        for reservation_id, seat_id in stale_claims.values_list("reservation_id", "seat_id")[:LIMIT]
    ]
    return breaches


def inventory_matches_available_seats() -> list[str]:
    """2. inventory.remaining equals the number of AVAILABLE seats of its date, shard by shard: each
    shard counts the AVAILABLE seats it covers (so their sum is the date's), and none is negative."""
    counted: dict[tuple[int, int], int] = defaultdict(int)
    available = Seat.objects.filter(status=SeatStatus.AVAILABLE).values_list("concert_date_id", "pk")
    for date_id, seat_id in available.iterator(chunk_size=20_000):
        counted[date_id, inventory_shard_of(seat_id)] += 1
    breaches = []
    for date_id, shard, remaining in Inventory.objects.order_by("concert_date_id", "shard").values_list(
        "concert_date_id", "shard", "remaining"
    ):
        n = counted.pop((date_id, shard), 0)
        if remaining != n:
            breaches.append(
                f"date {date_id} shard {shard}: inventory says {remaining} remaining, {n} seats are AVAILABLE"
            )
    breaches += [
        f"date {date_id} shard {shard}: {n} AVAILABLE seats but no inventory row"
        for (date_id, shard), n in counted.items()
    ]
    return breaches[:LIMIT]


def balances_match_ledgers() -> list[str]:
    """3. A balance is never negative and always equals the sum of its ledger."""
    ledger_cents = (
        WalletTransaction.objects.filter(user_id=OuterRef("pk"))
        .values("user_id")
        .annotate(s=Sum(cents(F("amount"))))
        .values("s")
    )
    rows = (
        User.objects.annotate(
            balance_cents=cents(F("balance")),
            ledger_cents=Coalesce(Subquery(ledger_cents), Value(0), output_field=BigIntegerField()),
        )
        .filter(Q(balance__lt=0) | ~Q(balance_cents=F("ledger_cents")))
        .values_list("pk", "balance", "ledger_cents")
    )
    return [
        f"user {pk}: balance {balance} but ledger sums to {as_money(ledger)}" for pk, balance, ledger in rows[:LIMIT]
    ]


def payments_match_reservations() -> list[str]:
    """4. A reservation is paid at most once, and a payment debits exactly its reservation's total."""
    breaches = []
    wrong_amount = Payment.objects.exclude(amount=F("reservation__total_price"))
    breaches += [
        f"payment {pk} is not its reservation's total" for pk in wrong_amount.values_list("pk", flat=True)[:LIMIT]
    ]
    unpaid = Reservation.objects.filter(status=ReservationStatus.CONFIRMED).exclude(payment__status=PaymentStatus.PAID)
    breaches += [
        f"confirmed reservation {pk} has no PAID payment" for pk in unpaid.values_list("pk", flat=True)[:LIMIT]
    ]
    paid_but_not_confirmed = Payment.objects.filter(status=PaymentStatus.PAID).exclude(
        reservation__status=ReservationStatus.CONFIRMED
    )
    breaches += [
        f"payment {pk} is PAID but its reservation is not CONFIRMED"
        for pk in paid_but_not_confirmed.values_list("pk", flat=True)[:LIMIT]
    ]
    reference = Concat(Value("reservation:"), F("reservation_id"))
    for kind, sign, statuses in (
        (LedgerKind.PAYMENT, -1, [PaymentStatus.PAID, PaymentStatus.REFUNDED]),
        (LedgerKind.REFUND, 1, [PaymentStatus.REFUNDED]),
    ):
        moved = (
            WalletTransaction.objects.filter(kind=kind, user_id=OuterRef("user_id"), reference=OuterRef("ref"))
            .values("reference")
            .annotate(s=Sum(cents(F("amount"))))
            .values("s")
        )
        rows = (
            Payment.objects.filter(status__in=statuses, amount__gt=0)
            .annotate(
                ref=reference,
                moved_cents=Coalesce(Subquery(moved), Value(0), output_field=BigIntegerField()),
                expected_cents=sign * cents(F("amount")),
            )
            .exclude(moved_cents=F("expected_cents"))
            .values_list("pk", "amount", "moved_cents")
        )
        breaches += [
            f"payment {pk} of {amount}: its {kind} ledger entries sum to {as_money(moved)}"
            for pk, amount, moved in rows[:LIMIT]
        ]
    return breaches


def expired_holds_released(*, grace: dt.timedelta) -> list[str]:
    """5. A hold past expires_at unpaid is released (within `grace`: the sweep runs every few seconds),
    and an ended hold keeps no seat."""
    overdue = Reservation.objects.filter(status=ReservationStatus.HELD, expires_at__lt=timezone.now() - grace)
    breaches = [
        f"hold {pk} expired at {expires} and was not released"
        for pk, expires in overdue.values_list("pk", "expires_at")[:LIMIT]
    ]
    paid_after_end = Payment.objects.filter(
        reservation__status__in=[ReservationStatus.EXPIRED], status=PaymentStatus.PAID
    ).values_list("reservation_id", flat=True)
    breaches += [f"expired reservation {pk} has a payment" for pk in paid_after_end[:LIMIT]]
    return breaches


def all_checks(*, grace: dt.timedelta) -> dict[str, Callable[[], list[str]]]:
    return {
        "1 one live reservation per seat": seat_held_by_one_live_reservation,
        "2 inventory equals available seats": inventory_matches_available_seats,
        "3 balances equal ledgers": balances_match_ledgers,
        "4 payments match reservations": payments_match_reservations,
        "5 expired holds released": lambda: expired_holds_released(grace=grace),
    }


def breaches(*, grace: dt.timedelta = dt.timedelta(seconds=60)) -> dict[str, list[str]]:
    return {name: check() for name, check in all_checks(grace=grace).items()}
