"""Paying for a hold from the wallet, and undoing a paid booking that is cancelled (the refund).

A payment spans reservations, the wallet, tickets and the queue, so it lives here, in the app on top:
the reservations app supplies the steps (`lock_own_reservation`, `confirm_reservation`) and never
imports this one; its `cancel_reservation` calls `undo_booking`, registered at start-up (apps.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts import services as wallet
from apps.common import metrics, outbox
from apps.common.db import (
    as_loaded,
    insert_statement,
    inserted_ids,
    procedure_transaction,
    retry_on_lock_conflict,
    run_batch,
)
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, NotFound, QueueAccessRequired
from apps.concerts import services as concert_services
from apps.concerts.effects import SEAT_MAP_CHANGED
from apps.concerts.selectors import date_facts
from apps.queue import services as queue
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from apps.tickets import services as tickets

from . import pay_call
from .effects import PAYMENT_COMPLETED, PAYMENT_REFUNDED
from .models import Payment, PaymentStatus


@retry_on_lock_conflict
def pay_for_reservation(*, user: Any, reservation_id: int, queue_date_id: int | None = None) -> tuple[Payment, Any]:
    """Debit the wallet by the reservation's total, record the payment, confirm the reservation and
    reserve its seats: all in one transaction, or nothing. Returns (payment, balance after). The
    transaction also records (outbox) that the buyer's queue access to the date ends and that the
    confirmation e-mail is owed.

    Locks the reservation, then the wallet, then the seats (the order of every booking transaction),
    in three round trips on MariaDB: the two locks (with the begin), one batch of every write, the
    commit. `queue_date_id`: the concert date of the caller's queue access (the payment view's), when
    the reservation must be of that date. Raises NOT_FOUND (also for another user's reservation),
    QUEUE_TOKEN_REQUIRED (403: a reservation of another date than `queue_date_id`),
    INVALID_STATE (409: not HELD, e.g. paid already), HOLD_EXPIRED (409), BOOKING_CLOSED (409: the
    show has started or staff closed its booking), INSUFFICIENT_BALANCE (409)."""
    now = timezone.now()
    if queue_date_id is not None and pay_call.usable():
        return _pay_by_call(user=user, reservation_id=reservation_id, concert_date_id=queue_date_id, now=now)
    with transaction.atomic():
        # A HELD reservation has no payment (paying confirms it in the same transaction, a refund
        # cancels it), and the unique reservation column of payment backs that up.
        # Round trip 1 (with the begin): lock the reservation, then the wallet.
        reservation_lock, read_reservation = reservations.own_reservation_lock(user=user, reservation_id=reservation_id)
        wallet_lock, read_wallet = wallet.wallet_lock(user_id=user.pk)
        locked = run_batch([reservation_lock, wallet_lock])
        reservation = read_reservation(locked[0])
        account = read_wallet(locked[1])
        if queue_date_id is not None and reservation.concert_date_id != queue_date_id:
            raise QueueAccessRequired()
        reservations.check_payable(reservation=reservation, now=now)
        # Round trip 2: debit and ledger entry, payment, seats RESERVED, reservation CONFIRMED, and the
        # outbox rows (the seat map's; the queue access this payment used ends at once, invariant 6,
        # and the confirmation e-mail is owed).
        statements = []
        if reservation.total_price > 0:
            statements, _ = wallet.debit_statements(
                wallet=account, amount=reservation.total_price, reference=f"reservation:{reservation.pk}"
            )
        payment = Payment(user_id=user.pk, reservation=reservation, amount=reservation.total_price, paid_at=now)
        statements.append(insert_statement(Payment, [payment]))
        confirm, confirmed = reservations.confirm_reservation(reservation=reservation, now=now)
        completed = outbox.Emission(
            PAYMENT_COMPLETED,
            reservation_id=reservation.pk,
            user_id=user.pk,
            concert_date_id=reservation.concert_date_id,
            access_expiring_by_ms=queue.latest_expiry_of_access_granted_by(now),
        )
        results = run_batch([*statements, *confirm, completed.statement])
        (payment.pk,) = inserted_ids(results[len(statements) - 1], 1)
        confirmed(results[len(statements) : -1])
        completed.inserted(results[-1])
        as_loaded(payment)
        balance = account.balance
    metrics.hold_paid()
    return payment, balance


def _pay_by_call(*, user: Any, reservation_id: int, concert_date_id: int, now: dt.datetime) -> tuple[Payment, Any]:
    """`pay_for_reservation` as one call of the payment procedure (MariaDB): the same locks in the same
    order, the same refusals, rows and effects after commit. With no transaction open the procedure
    owns one (one round trip); inside the caller's (a keyed payment's), a savepoint undoes a refusal."""
    completed = outbox.ServerEmission(
        PAYMENT_COMPLETED,
        reservation_id=reservation_id,
        user_id=user.pk,
        concert_date_id=concert_date_id,
        access_expiring_by_ms=queue.latest_expiry_of_access_granted_by(now),
    )
    with procedure_transaction():
        answer = pay_call.call(
            user_id=user.pk,
            reservation_id=reservation_id,
            concert_date_id=concert_date_id,
            booking_open=reservations.booking_open(concert_date_id),
            now=now,
            reference=f"reservation:{reservation_id}",
            seat_event_kind=SEAT_MAP_CHANGED,
            completed=completed,
        )
        match answer.outcome:
            case pay_call.PAID:
                pass
            case "not_found":
                raise NotFound("Reservation not found.")
            case "other_date":
                raise QueueAccessRequired()
            case "insufficient":
                raise wallet.overdraft(balance=answer.balance, amount=-answer.total_price)
            case why:
                raise reservations.unpayable(why, status=answer.status or "")
        concert_services.seats_reserved_on_server(
            concert_date_id=concert_date_id, seat_ids=answer.seat_ids, event_id=answer.seat_event_id, at=now
        )
        completed.inserted(answer.completed_event_id, now)
    payment = as_loaded(
        Payment(
            pk=answer.payment_id,
            user_id=user.pk,
            reservation_id=reservation_id,
            amount=answer.total_price,
            status=PaymentStatus.PAID,
            paid_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    metrics.hold_paid()
    return payment, answer.balance


def undo_booking(*, reservation: Reservation, now: dt.datetime) -> None:
    """What cancelling a paid booking also undoes (registered with the reservations app, which calls it
    with the reservation locked in its cancelling transaction): the payment is refunded to the wallet
    (ledger REFUND, payment REFUNDED, an e-mail after commit), until REFUND_CUTOFF_HOURS before the show
    (INVALID_STATE after), and its tickets are voided."""
    _refund_payment(reservation=reservation, now=now)
    tickets.void_tickets(reservation_id=reservation.pk, now=now)


def _refund_payment(*, reservation: Reservation, now: dt.datetime) -> None:
    """Give a confirmed reservation's payment back to the wallet (caller holds the reservation lock)."""
    starts_at = date_facts(reservation.concert_date_id).starts_at
    if now >= starts_at - dt.timedelta(hours=settings.REFUND_CUTOFF_HOURS):
        raise Conflict(
            ErrorCode.INVALID_STATE,
            f"Bookings can be cancelled until {settings.REFUND_CUTOFF_HOURS} hours before the show.",
        )
    payment = Payment.objects.select_for_update().get(reservation_id=reservation.pk)
    if payment.status != PaymentStatus.PAID:
        raise Conflict(ErrorCode.INVALID_STATE, "This payment was refunded already.")
    if payment.amount > 0:
        wallet.refund(user=reservation.user, amount=payment.amount, reference=f"reservation:{reservation.pk}")
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.REFUNDED, refunded_at=now, updated_at=now)
    outbox.emit(PAYMENT_REFUNDED, payment_id=payment.pk)
    metrics.payment_refunded()
