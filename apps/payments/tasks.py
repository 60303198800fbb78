from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from .models import Payment


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_refund_email(*, payment_id: int) -> None:
    payment = Payment.objects.select_related("user", "reservation__concert").filter(pk=payment_id).first()
    if payment is None:
        return
    concert = payment.reservation.concert
    send_mail(
        subject=f"Refund for {concert.name}",
        message=(
            f"Hello {payment.user.name},\n\nyour booking {payment.reservation_id} for {concert.name} was cancelled "
            f"and {payment.amount} was refunded to your wallet."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[payment.user.email],
    )
