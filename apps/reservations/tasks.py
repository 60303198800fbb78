from celery import shared_task
from django.conf import settings

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
def send_reservation_confirmed_email(*, reservation_id: int, event_id: int) -> None:
    """Queued by the outbox effect of a confirmed reservation; sent once per event."""
    reservation = (
        Reservation.objects.select_related("user", "concert", "concert_date")
        .prefetch_related("items__seat")
        .filter(pk=reservation_id)
        .first()
    )
    if reservation is None:
        return
    seats = ", ".join(f"{item.seat.section} {item.seat.row}-{item.seat.seat_num}" for item in reservation.items.all())
    send_mail_once(
        key=outbox_mail_key(event_id),
        subject=f"Your tickets for {reservation.concert.name}",
        message=(
            f"Hello {reservation.user.name},\n\nbooking {reservation.pk} is confirmed: {reservation.concert.name}, "
            f"{reservation.concert_date.starts_at:%Y-%m-%d %H:%M} UTC, seats {seats}. "
            f"Total paid: {reservation.total_price}."
        ),
        recipient=reservation.user.email,
    )
