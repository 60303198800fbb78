"""Catalogue reads: concerts, dates with availability, available seats, and the few facts about a date
that the hot paths need (the seat map is read through `seat_map`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.common.db import IdList, read_id_list
from apps.common.exceptions import NotFound

from .models import Concert, ConcertDate, Inventory, Seat, SeatStatus, inventory_shard_of

logger = logging.getLogger(__name__)


def list_concerts() -> QuerySet[Concert]:
    return (
        Concert.objects.select_related("venue")
        .annotate(first_date=Min("dates__starts_at"), last_date=Max("dates__starts_at"))
        .order_by("id")
    )


def _count(queryset: QuerySet, field: str = "concert_date_id") -> Subquery:
    """COUNT(*) of a correlated queryset as a scalar subquery (0 when no row matches)."""
    counted = queryset.order_by().values(field).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def with_remaining(dates: QuerySet[ConcertDate], now: dt.datetime | None = None) -> QuerySet[ConcertDate]:
    """`dates` with `stored_remaining` (the sum of the inventory shards: AVAILABLE seats) and
    `expired_holds` (seats still HELD by a hold that has expired but not been swept yet), in one query."""
    now = now or timezone.now()
    shards = Inventory.objects.filter(concert_date_id=OuterRef("pk")).order_by().values("concert_date_id")
    expired = Seat.objects.filter(concert_date_id=OuterRef("pk"), status=SeatStatus.HELD, held_until__lte=now)
    return dates.annotate(
        stored_remaining=Coalesce(
            Subquery(shards.annotate(s=Sum("remaining")).values("s"), output_field=IntegerField()), Value(0)
        ),
        expired_holds=_count(expired),
    )


def dates_with_remaining() -> QuerySet[ConcertDate]:
    return with_remaining(ConcertDate.objects.all()).order_by("starts_at", "id")


def get_concert(*, concert_id: int) -> Concert:
    concert = (
        Concert.objects.select_related("venue")
        .prefetch_related(Prefetch("dates", queryset=dates_with_remaining()))
        .filter(pk=concert_id)
        .first()
    )
    if concert is None:
        raise NotFound("Concert not found.")
    return concert


def dates_with_availability(*, concert_id: int) -> list[ConcertDate]:
    if not Concert.objects.filter(pk=concert_id).exists():
        raise NotFound("Concert not found.")
    return list(dates_with_remaining().filter(concert_id=concert_id))


def remaining_seats(concert_date: ConcertDate) -> int:
    """Seats neither held nor reserved, as the seat map shows them: a seat whose hold has expired is
    free from that moment, swept or not. A date from `with_remaining()` (the selectors return those)
    costs no query."""
    if not hasattr(concert_date, "stored_remaining"):  # a date not read through these selectors
        counts = with_remaining(ConcertDate.objects.filter(pk=concert_date.pk)).values_list(
            "stored_remaining", "expired_holds"
        )
        return sum(counts.first() or (0, 0))
    return concert_date.stored_remaining + concert_date.expired_holds


@dataclass(frozen=True)
class HoldPreview:
    """What a hold reads before it locks any seat: which of the requested seats are taken (reserved,
    or held by a live hold), ascending, and the version of each inventory shard that counts them (None for a
    shard the date does not have: an unknown date)."""

    taken: list[int]
    shard_versions: dict[int, int | None]


def hold_preview_shards(seat_ids: Sequence[int]) -> list[int]:
    """The inventory shards that count `seat_ids`, ascending: the shards a hold preview reads."""
    return sorted({inventory_shard_of(seat_id) for seat_id in seat_ids})


def _shard_column(index: int) -> str:
    return f"hold_preview_shard_{index}_version"


def hold_preview_columns(
    *, concert_date_id: int, seat_ids: Sequence[int], shards: Sequence[int], now: dt.datetime
) -> dict[str, Subquery]:
    """The hold preview as scalar subqueries, for the caller to read in a statement it makes anyway
    (the hold reads them in its user lock: one round trip); `shards` are `hold_preview_shards(seat_ids)`,
    passed in so that every value is a parameter of the statement (a hold compiles it once per shape:
    `apps.common.db.PreparedSelect`). Subqueries of a locking read take no lock, so nothing here is
    locked. Read the row back with `read_hold_preview`; nothing read here is trusted for the decision to
    hold: the seat lock and the version check are."""
    taken = Seat.objects.filter(pk__in=seat_ids, concert_date_id=concert_date_id).filter(
        Q(status=SeatStatus.RESERVED) | Q(status=SeatStatus.HELD, held_until__gt=now)
    )
    taken_ids = taken.order_by().values("concert_date_id").annotate(ids=IdList("pk")).values("ids")
    columns: dict[str, Subquery] = {"hold_preview_taken": Subquery(taken_ids, output_field=CharField())}
    for index, shard in enumerate(shards):
        version = Inventory.objects.filter(concert_date_id=concert_date_id, shard=shard).values("version")[:1]
        columns[_shard_column(index)] = Subquery(version, output_field=IntegerField())
    return columns


def read_hold_preview(row: Any, *, shards: Sequence[int]) -> HoldPreview:
    """The preview from a row read with `hold_preview_columns` (the same `shards`)."""
    return HoldPreview(
        taken=read_id_list(row.hold_preview_taken),
        shard_versions={shard: getattr(row, _shard_column(index)) for index, shard in enumerate(shards)},
    )


def in_booking_window(
    *, booking_open: bool, booking_opens_at: dt.datetime, starts_at: dt.datetime, now: dt.datetime | None = None
) -> bool:
    """The booking rule: staff have not closed the date, its window has opened and the show has not started."""
    now = now or timezone.now()
    return booking_open and booking_opens_at <= now < starts_at


def is_available(concert_date: ConcertDate, now: dt.datetime | None = None) -> bool:
    """Bookable now (the booking rule) with seats left."""
    return (
        in_booking_window(
            booking_open=concert_date.booking_open,
            booking_opens_at=concert_date.booking_opens_at,
            starts_at=concert_date.starts_at,
            now=now,
        )
        and remaining_seats(concert_date) > 0
    )


# --- Date facts for the hot paths ----------------------------------------------------------------
#
# The few facts about a concert date that queue polls and holds need, kept in process memory for a
# few seconds so those paths do not read the date row on every request (docs/DESIGN.md, "Hot paths").
# Staff closing booking shows in this process at once and in others within DATE_FACTS_TTL_SECONDS.

_facts: dict[int, tuple[float, DateFacts | None]] = {}
_facts_lock = threading.Lock()


@dataclass(frozen=True)
class DateFacts:
    concert_date_id: int
    concert_id: int
    starts_at: dt.datetime
    booking_opens_at: dt.datetime
    booking_open: bool
    layout_version: int

    def booking_open_now(self) -> bool:
        return in_booking_window(
            booking_open=self.booking_open, booking_opens_at=self.booking_opens_at, starts_at=self.starts_at
        )


def date_facts(concert_date_id: int) -> DateFacts | None:
    now = time.monotonic()
    cached = _facts.get(concert_date_id)
    if cached and cached[0] > now:
        return cached[1]
    row = (
        ConcertDate.objects.filter(pk=concert_date_id)
        .values_list("concert_id", "starts_at", "booking_opens_at", "booking_open", "layout_version")
        .first()
    )
    facts = DateFacts(concert_date_id, *row) if row else None
    with _facts_lock:
        if len(_facts) > 10_000:
            _facts.clear()
        _facts[concert_date_id] = (now + settings.DATE_FACTS_TTL_SECONDS, facts)
    return facts


def date_of_concert(*, concert_id: int, concert_date_id: int) -> DateFacts:
    """The facts of a concert date that belongs to this concert; NOT_FOUND for an unknown date or
    one of another concert (so that an id never reveals another concert's dates)."""
    facts = date_facts(concert_date_id)
    if facts is None or facts.concert_id != concert_id:
        raise NotFound("Concert date not found.")
    return facts


def forget_dates() -> None:
    _facts.clear()
