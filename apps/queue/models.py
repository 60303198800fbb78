from apps.concerts.models import ConcertDate


class QueueOverview(ConcertDate):
    """A read-only admin view of each concert date's waiting room (the data lives in Redis)."""

    class Meta:
        proxy = True
        verbose_name = "queue overview"
        verbose_name_plural = "queue overview"
