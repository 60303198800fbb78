from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.common.models import TimeStampedModel
from apps.concerts.models import Concert, ConcertDate, Seat


class ReservationStatus(models.TextChoices):
    HELD = "HELD", "Held"
    CONFIRMED = "CONFIRMED", "Confirmed"
    CANCELLED = "CANCELLED", "Cancelled"
    EXPIRED = "EXPIRED", "Expired"


LIVE_STATUSES = (ReservationStatus.HELD, ReservationStatus.CONFIRMED)


class Reservation(TimeStampedModel):
    """1..N seats of one concert date, held until `expires_at`, confirmed when paid."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reservations")
    concert = models.ForeignKey(Concert, on_delete=models.PROTECT, related_name="+")
    concert_date = models.ForeignKey(ConcertDate, on_delete=models.PROTECT, related_name="reservations")
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.HELD)
    total_price = models.DecimalField(max_digits=14, decimal_places=2)
    expires_at = models.DateTimeField()
    reserved_at = models.DateTimeField(null=True, blank=True, help_text="When the payment confirmed it.")
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was cancelled or expired.")

    class Meta:
        db_table = "reservation"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="reservation_status_expiry"),
            models.Index(fields=["user", "-created_at"], name="reservation_user_recent"),
            models.Index(fields=["user", "concert_date", "status"], name="reservation_user_date_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(total_price__gte=0), name="reservation_total_non_negative")
        ]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.status})"

    def effective_status(self, now: object = None) -> str:
        """A HELD reservation past `expires_at` is EXPIRED whether or not the sweep has run."""
        if self.status == ReservationStatus.HELD and self.expires_at <= (now or timezone.now()):
            return ReservationStatus.EXPIRED
        return self.status


class ReservationItem(TimeStampedModel):
    """A seat of a reservation. `live_seat` repeats the seat while the reservation is live (HELD or
    CONFIRMED) and is cleared when it ends: its UNIQUE index lets the database itself refuse a seat
    in two live reservations (invariant 1), whatever the application code does."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="items")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="reservation_items")
    live_seat = models.OneToOneField(
        Seat, on_delete=models.PROTECT, null=True, blank=True, related_name="live_reservation_item"
    )
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        db_table = "reservation_item"
        constraints = [
            models.UniqueConstraint(fields=["reservation", "seat"], name="reservation_item_unique_seat"),
            models.CheckConstraint(
                condition=models.Q(live_seat__isnull=True) | models.Q(live_seat=models.F("seat")),
                name="reservation_item_live_seat_is_seat",
            ),
        ]

    def __str__(self) -> str:
        return f"seat {self.seat_id} of reservation {self.reservation_id}"
