from django.conf import settings
from django.db import models

from apps.common.models import TimeStampedModel
from apps.reservations.models import Reservation


class PaymentStatus(models.TextChoices):
    PAID = "PAID", "Paid"
    REFUNDED = "REFUNDED", "Refunded"


class Payment(TimeStampedModel):
    """The wallet payment of one reservation (at most one: the reservation column is unique)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="payment")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.PAID)
    paid_at = models.DateTimeField()
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payment"
        ordering = ["-paid_at", "-id"]
        indexes = [models.Index(fields=["user", "-paid_at"], name="payment_user_recent")]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="payment_amount_non_negative")]

    def __str__(self) -> str:
        return f"Payment {self.pk} for reservation {self.reservation_id} ({self.status})"
