from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.common.db import PreparedSelect, run_batch
from apps.common.exceptions import NotFound

from .models import Reservation, ReservationItem


def reservations_of(*, user: Any) -> QuerySet[Reservation]:
    """The user's reservations, newest first, with their seats (two queries whatever the count)."""
    items = ReservationItem.objects.select_related("seat").order_by("seat__seat_num")
    return Reservation.objects.filter(user_id=user.pk).prefetch_related(Prefetch("items", queryset=items))


def get_reservation(*, user: Any, reservation_id: int) -> Reservation:
    """One of the user's reservations; another user's id is NOT_FOUND, like an unknown one."""
    reservation = reservations_of(user=user).filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFound("Reservation not found.")
    return reservation


def concert_date_of(*, user: Any, reservation_id: int) -> int:
    """The concert date of one of the user's reservations (a payment's queue gate asks it only of a
    queue token it refuses: a live one names its date); NOT_FOUND for another user's or an unknown one."""
    statement, read = _DATE_OF.statement(user_id=user.pk, reservation_id=reservation_id)
    found = read(run_batch([statement])[0])
    if not found:
        raise NotFound("Reservation not found.")
    return found[0].concert_date_id


_DATE_OF = PreparedSelect(
    lambda *, user_id, reservation_id: Reservation.objects.filter(pk=reservation_id, user_id=user_id),
    fields=("id", "concert_date_id"),
)
