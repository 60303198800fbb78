from django.db import models
from django.utils import timezone

from apps.common.models import TimeStampedModel

MONEY = {"max_digits": 12, "decimal_places": 2}


class Venue(TimeStampedModel):
    """The ERD's `place`. `layout` lists sections: [{"name", "rows", "seats_per_row", "price"}]."""

    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True, default="")
    layout = models.JSONField(default=list)
    seat_count = models.PositiveIntegerField(default=0, help_text="Seats in the layout (the ERD's seats_cnt).")

    class Meta:
        db_table = "place"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Concert(TimeStampedModel):
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="concerts", db_column="place_id")
    name = models.CharField(max_length=200)
    artist = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")

    class Meta:
        db_table = "concert"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ConcertDate(TimeStampedModel):
    """One performance of a concert; its seats are created from the venue layout."""

    concert = models.ForeignKey(Concert, on_delete=models.PROTECT, related_name="dates")
    starts_at = models.DateTimeField(db_column="concert_date")
    booking_opens_at = models.DateTimeField(default=timezone.now)
    booking_open = models.BooleanField(default=True, help_text="Staff can close booking for a date at any time.")
    total_seats = models.PositiveIntegerField(default=0)
    layout_version = models.PositiveIntegerField(
        default=1, help_text="Bumped whenever staff change this date's seats or prices (the seat layout's version)."
    )

    class Meta:
        db_table = "concert_date"
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["concert", "starts_at"], name="concert_date_concert_starts")]

    def __str__(self) -> str:
        return f"{self.concert.name} @ {self.starts_at:%Y-%m-%d %H:%M}"


class SeatStatus(models.TextChoices):
    AVAILABLE = "AVAILABLE", "Available"
    HELD = "HELD", "Held"
    RESERVED = "RESERVED", "Reserved"


class Seat(TimeStampedModel):
    """A seat of one concert date. A HELD seat whose `held_until` has passed reads as AVAILABLE:
    `expires_at > now` is the authority, the sweep only tidies up."""

    # Seats go with their date; a seat that was ever reserved is protected by its reservation item.
    concert_date = models.ForeignKey(ConcertDate, on_delete=models.CASCADE, related_name="seats")
    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="+", db_column="place_id")
    seat_num = models.PositiveIntegerField()
    section = models.CharField(max_length=50)
    row = models.CharField(max_length=10)
    price = models.DecimalField(**MONEY)
    status = models.CharField(max_length=10, choices=SeatStatus.choices, default=SeatStatus.AVAILABLE)
    held_until = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "seat"
        ordering = ["concert_date_id", "seat_num"]
        constraints = [
            models.UniqueConstraint(fields=["concert_date", "seat_num"], name="seat_unique_per_date"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="seat_price_non_negative"),
        ]
        indexes = [models.Index(fields=["concert_date", "status"], name="seat_date_status")]

    def __str__(self) -> str:
        return f"{self.section} {self.row}-{self.seat_num}"

    def effective_status(self, now: object = None) -> str:
        if (
            self.status == SeatStatus.HELD
            and self.held_until is not None
            and self.held_until <= (now or timezone.now())
        ):
            return SeatStatus.AVAILABLE
        return self.status


# Changing either needs a data migration that re-splits every date's rows (see 0004_inventory_shards).
INVENTORY_SHARDS = 16
INVENTORY_SHARD_BLOCK = 4


def inventory_shard_of(seat_id: int) -> int:
    """The inventory shard that counts a seat: blocks of 4 consecutive seat ids, dealt round robin
    over the shards. A date's seats get consecutive ids in seat order, so the few adjacent seats of
    one hold usually share a shard (one counter update per hold), while a section of 100 seats, where
    concurrent buyers cluster, is spread over all 16."""
    return seat_id // INVENTORY_SHARD_BLOCK % INVENTORY_SHARDS


class Inventory(TimeStampedModel):
    """One of a date's INVENTORY_SHARDS seat counters (the ERD's `inventory`, split): `remaining`
    always equals the number of AVAILABLE seats of the date that this shard counts
    (`inventory_shard_of(seat.id) == shard`), so the date's remaining seats are the sum of its
    shards. One row per date would serialise the date's holds through its commit; shards let holds
    of other seats commit side by side, and a shard can never go below zero, since it only counts
    its own seats."""

    concert = models.ForeignKey(Concert, on_delete=models.PROTECT, related_name="+")
    concert_date = models.ForeignKey(ConcertDate, on_delete=models.CASCADE, related_name="inventory_shards")
    shard = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    version = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "inventory"
        verbose_name_plural = "inventories"
        ordering = ["concert_date_id", "shard"]
        constraints = [
            models.UniqueConstraint(fields=["concert_date", "shard"], name="inventory_unique_shard"),
            models.CheckConstraint(condition=models.Q(remaining__gte=0), name="inventory_remaining_non_negative"),
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("total")), name="inventory_remaining_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.total} for date {self.concert_date_id}, shard {self.shard}"
