"""Paying for a hold from the wallet, and refunding a cancelled booking."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts import services as wallet
from apps.common.db import retry_on_lock_conflict
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict
from apps.common.tasks import enqueue_on_commit
from apps.reservations import services as reservations
from apps.reservations.models import Reservation

from .models import Payment, PaymentStatus


@retry_on_lock_conflict
def pay_for_reservation(*, user: Any, reservation_id: int) -> tuple[Payment, Any]:
    """Debit the wallet by the reservation's total, record the payment, confirm the reservation and
    reserve its seats: all in one transaction, or nothing. Returns (payment, balance after).

    Locks the reservation, then the wallet (the same order as every other booking transaction).
    Raises NOT_FOUND (also for another user's reservation), INVALID_STATE (409: not HELD, e.g. paid
    already), HOLD_EXPIRED (409), INSUFFICIENT_BALANCE (409)."""
    now = timezone.now()
    with transaction.atomic():
        reservation = reservations.lock_reservation_for_payment(user=user, reservation_id=reservation_id, now=now)
        if Payment.objects.filter(reservation_id=reservation.pk).exists():
            raise Conflict(ErrorCode.INVALID_STATE, "This reservation is already paid.")
        if reservation.total_price > 0:
            entry = wallet.debit(user=user, amount=reservation.total_price, reference=f"reservation:{reservation.pk}")
            balance = entry.balance_after
        else:
            balance = wallet.lock_user(user_id=user.pk).balance
        payment = Payment.objects.create(
            user_id=user.pk, reservation=reservation, amount=reservation.total_price, paid_at=now
        )
        reservations.confirm_reservation(reservation=reservation, now=now)
    return payment, balance


def refund_reservation_payment(*, reservation: Reservation, now: dt.datetime) -> Payment:
    """Give a confirmed reservation's payment back to the wallet (ledger REFUND) and mark it
    REFUNDED. Runs inside the cancellation's transaction, which holds the reservation lock."""
    payment = Payment.objects.select_for_update().get(reservation_id=reservation.pk)
    if payment.status != PaymentStatus.PAID:
        raise Conflict(ErrorCode.INVALID_STATE, "This payment was refunded already.")
    if payment.amount > 0:
        wallet.refund(user=reservation.user, amount=payment.amount, reference=f"reservation:{reservation.pk}")
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.REFUNDED, refunded_at=now, updated_at=now)
    payment.status, payment.refunded_at = PaymentStatus.REFUNDED, now
    from .tasks import send_refund_email

    enqueue_on_commit(send_refund_email, payment_id=payment.pk)
    return payment
