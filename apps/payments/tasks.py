from celery import shared_task

from apps.common.mail import outbox_mail_key, send_mail_once

from .models import Payment


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_refund_email(*, payment_id: int, event_id: int) -> None:
    """Queued by the outbox effect of a refund; sent once per event."""
    payment = Payment.objects.select_related("user", "reservation__concert").filter(pk=payment_id).first()
    if payment is None:
        return
    concert = payment.reservation.concert
    send_mail_once(
        key=outbox_mail_key(event_id),
        subject=f"Refund for {concert.name}",
        message=(
            f"Hello {payment.user.name},\n\nyour booking {payment.reservation_id} for {concert.name} was cancelled "
            f"and {payment.amount} was refunded to your wallet."
        ),
        recipient=payment.user.email,
    )
