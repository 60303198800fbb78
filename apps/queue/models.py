from django.db import models

from apps.concerts.models import ConcertDate


class QueueStatus(models.TextChoices):
    """Where a buyer stands in a date's waiting room (the Lua scripts return these values)."""

    WAITING = "WAITING", "Waiting in line"
    READY = "READY", "Admitted (holds an access token)"
    NOT_IN_QUEUE = "NOT_IN_QUEUE", "Not in the line"
    SOLD_OUT = "SOLD_OUT", "Sold out (no free seat and no hold)"


class QueueOverview(ConcertDate):
    """A read-only admin view of each concert date's waiting room (the data lives in Redis)."""

    class Meta:
        proxy = True
        verbose_name = "queue overview"
        verbose_name_plural = "queue overview"
