"""A payment's transaction as one call of the stored procedure `payments_pay` (migration 0003) on
MariaDB: the reservation's lock and the wallet's, the checks, the seats HELD → RESERVED in ascending id
order, the debit and its ledger entry, the payment, the reservation CONFIRMED and the two outbox rows
(the seat map's, the payment's completion), in the order `services.pay_for_reservation` runs them from
Python on SQLite. Called with no transaction open, the procedure begins and ends its own, so a payment
is one round trip; inside a caller's transaction (a keyed payment's) it runs in it.

`call` returns what the procedure answered: the payment's rows, or why it refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from apps.common.db import call_procedure
from apps.common.outbox import ServerEmission

PROCEDURE = "payments_pay"

PAID = "paid"


@dataclass(frozen=True)
class Answer:
    """`outcome`: "paid" (`payment_id`, the outbox rows `seat_event_id` and `completed_event_id`,
    `balance` after the debit) or a refusal: "not_found", "other_date", "expired", "not_held"
    (`status`), "closed", "insufficient" (`balance`, `total_price`), "seats_not_held"."""

    outcome: str
    status: str | None
    total_price: Decimal | None
    balance: Decimal | None
    seat_ids: list[int]
    payment_id: int | None
    seat_event_id: int | None
    completed_event_id: int | None


def usable() -> bool:
    """The procedure serves this connection's payments: MariaDB, and PAYMENT_PROCEDURE on."""
    return settings.PAYMENT_PROCEDURE and transaction.get_connection().vendor == "mysql"


def call(
    *,
    user_id: int,
    reservation_id: int,
    concert_date_id: int,
    booking_open: bool,
    now: dt.datetime,
    reference: str,
    seat_event_kind: str,
    completed: ServerEmission,
) -> Answer:
    """One CALL; its one result row read (and the call's own status after it)."""
    conn = transaction.get_connection()
    (row,) = call_procedure(
        PROCEDURE,
        (
            user_id,
            reservation_id,
            concert_date_id,
            booking_open,
            conn.ops.adapt_datetimefield_value(now),
            reference[:100],
            seat_event_kind,
            completed.kind,
            completed.payload_text,
        ),
    )
    outcome, status, total, balance, seats, payment_id, seat_event_id, completed_event_id = row
    return Answer(
        outcome=outcome,
        status=status,
        total_price=total,
        balance=balance,
        seat_ids=[int(part) for part in seats.split(", ")] if seats else [],
        payment_id=payment_id,
        seat_event_id=seat_event_id,
        completed_event_id=completed_event_id,
    )
