from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection

from apps.common.mail import outbox_mail_key, send_mail_once

from . import services
from .models import Reservation


@shared_task(
    soft_time_limit=settings.BOOKING_TASK_SOFT_TIME_LIMIT_SECONDS, time_limit=settings.BOOKING_TASK_TIME_LIMIT_SECONDS
)
def release_expired_holds_task() -> int:
    """Beat runs this every HOLD_SWEEP_INTERVAL_SECONDS; safe to run twice at once (SKIP LOCKED)."""
    return services.release_expired_holds()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_reservation_confirmed_emails(*, confirmations: list[list[int]]) -> int:
    """Queued by the outbox for the confirmed reservations of one relay batch: [reservation id, event
    id] pairs, one e-mail each, each sent once per event, over one mail-server session. A failure
    retries the task, and the e-mails already sent are not sent again. Returns how many were sent."""
    wanted = {int(reservation_id) for reservation_id, _ in confirmations}
    reservations = {
        reservation.pk: reservation
        for reservation in Reservation.objects.select_related("user", "concert", "concert_date")
        .prefetch_related("items__seat")
        .filter(pk__in=wanted)
    }
    sent = 0
    with get_connection() as connection:
        for reservation_id, event_id in confirmations:
            reservation = reservations.get(int(reservation_id))
            if reservation is not None:
                sent += _send_confirmation(reservation, event_id=int(event_id), connection=connection)
    return sent


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_reservation_confirmed_email(*, reservation_id: int, event_id: int) -> None:
    """One reservation's confirmation (tasks queued before confirmations went out in batches)."""
    send_reservation_confirmed_emails(confirmations=[[reservation_id, event_id]])


def _send_confirmation(reservation: Reservation, *, event_id: int, connection: Any) -> bool:
    seats = ", ".join(f"{item.seat.section} {item.seat.row}-{item.seat.seat_num}" for item in reservation.items.all())
    return send_mail_once(
        key=outbox_mail_key(event_id),
        subject=f"Your tickets for {reservation.concert.name}",
        message=(
            f"Hello {reservation.user.name},\n\nbooking {reservation.pk} is confirmed: {reservation.concert.name}, "
            f"{reservation.concert_date.starts_at:%Y-%m-%d %H:%M} UTC, seats {seats}. "
            f"Total paid: {reservation.total_price}."
        ),
        recipient=reservation.user.email,
        connection=connection,
    )
