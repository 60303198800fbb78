"""What reservations do on domain events (connected in ReservationsConfig.ready)."""

from typing import Any

from django.dispatch import receiver

from apps.common.on_commit import enqueue_on_commit

from .signals import reservation_confirmed
from .tasks import send_reservation_confirmed_email


@receiver(reservation_confirmed, dispatch_uid="reservations.confirmation_email")
def send_confirmation_email(sender: Any, reservation_id: int, **kwargs: Any) -> None:
    enqueue_on_commit(send_reservation_confirmed_email, reservation_id=reservation_id)
