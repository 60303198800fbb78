from typing import Any

from django.db.models import Prefetch, QuerySet

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
    date_id = Reservation.objects.filter(pk=reservation_id, user_id=user.pk).values_list("concert_date_id", flat=True)
    if not date_id:
        raise NotFound("Reservation not found.")
    return date_id[0]
