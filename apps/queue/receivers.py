"""What the queue does on other apps' domain events (connected in QueueConfig.ready)."""

from typing import Any

from django.dispatch import receiver

from apps.reservations.signals import reservation_confirmed

from . import services


@receiver(reservation_confirmed, dispatch_uid="queue.end_access_on_payment")
def end_access_after_payment(sender: Any, user_id: int, concert_date_id: int, **kwargs: Any) -> None:
    """A completed payment uses up the buyer's access to that date: the place goes to the next waiter."""
    services.end_access(user_id=user_id, concert_date_id=concert_date_id)
