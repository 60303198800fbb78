from django.conf import settings
from django.db import models

from apps.common.models import TimeStampedModel
from apps.concerts.models import ConcertDate, Seat
from apps.reservations.models import Reservation


class TicketStatus(models.TextChoices):
    VALID = "VALID", "Valid"
    CHECKED_IN = "CHECKED_IN", "Checked in"
    VOID = "VOID", "Void"


class Ticket(TimeStampedModel):
    """The right to one seat of a confirmed reservation, shown at the door as a signed code
    (apps.tickets.signing). VALID until scanned once (CHECKED_IN) or its booking is cancelled or
    refunded (VOID). The UNIQUE (reservation, seat) makes issuing idempotent: a reservation's tickets
    are created once however often the payment's effect runs."""

    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="tickets")
    # The date and seat repeat what the reservation says, so the door's check-in and the per-date
    # counts read one table.
    concert_date = models.ForeignKey(ConcertDate, on_delete=models.PROTECT, related_name="tickets")
    seat = models.ForeignKey(Seat, on_delete=models.PROTECT, related_name="tickets")
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.VALID)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "ticket"
        ordering = ["reservation_id", "seat_id"]
        constraints = [
            models.UniqueConstraint(fields=["reservation", "seat"], name="ticket_unique_seat_per_reservation"),
            models.CheckConstraint(
                condition=models.Q(status="CHECKED_IN", checked_in_at__isnull=False)
                | (~models.Q(status="CHECKED_IN") & models.Q(checked_in_at__isnull=True)),
                name="ticket_checked_in_has_time",
            ),
        ]
        indexes = [models.Index(fields=["concert_date", "status"], name="ticket_date_status")]

    def __str__(self) -> str:
        return f"Ticket {self.pk} ({self.status})"


class DoorOverview(ConcertDate):
    """A read-only admin view of each concert date's door: tickets entered / sold, by section."""

    class Meta:
        proxy = True
        verbose_name = "door (tickets and check-ins)"
        verbose_name_plural = "doors (tickets and check-ins per date)"
