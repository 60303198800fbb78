"""Catalogue writes and the seat-state transitions that reservations drive.

Seat transitions (`mark_seats_held`, `reserve_seats_statements`, `release_seats`) run inside the caller's
transaction: they lock the seat rows in ascending id order (one global order, so overlapping
multi-seat holds cannot deadlock each other) and keep each inventory shard's `remaining` equal to
the number of its AVAILABLE seats with version-checked updates, shards in ascending order. Each
emits `concerts.seat_map_changed` in the transaction (apps.common.outbox: the map is dropped right
after commit, and the relay makes sure it was).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

from django.db import transaction
from django.db.models import F, ProtectedError, QuerySet
from django.db.models.expressions import BaseExpression
from django.utils import timezone

from apps.common import metrics, outbox
from apps.common.db import PreparedUpdate, Statement, StatementResult, run_batch
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from apps.common.on_commit import run_on_commit, script_on_commit
from apps.common.outbox import Emission, ServerEmission

from .effects import SEAT_MAP_CHANGED
from .models import INVENTORY_SHARDS, Concert, ConcertDate, Inventory, Seat, SeatStatus, Venue, inventory_shard_of
from .seat_counts import forget_seat_counts, seat_count_change

INVENTORY_VERSION_RETRIES = 8


# --- Venue layout and dates ---------------------------------------------------------------------


def validate_layout(layout: Any) -> list[dict[str, Any]]:
    """A venue layout: a non-empty list of sections {name, rows, seats_per_row, price}."""
    if not isinstance(layout, list) or not layout:
        raise ValidationFailed("The layout must be a non-empty list of sections.", details={"layout": ["Invalid."]})
    sections = []
    names = set()
    for section in layout:
        try:
            name = str(section["name"]).strip()
            rows = int(section["rows"])
            per_row = int(section["seats_per_row"])
            price = Decimal(str(section["price"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise ValidationFailed(
                "Each section needs name, rows, seats_per_row and price.", details={"layout": ["Invalid section."]}
            ) from None
        if not name or name in names or not 0 < rows <= 200 or not 0 < per_row <= 500:
            raise ValidationFailed(
                "Sections need distinct names, 1-200 rows and 1-500 seats per row.", details={"layout": [name]}
            )
        if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
            raise ValidationFailed("A section price is a non-negative amount.", details={"layout": [name]})
        names.add(name)
        sections.append({"name": name, "rows": rows, "seats_per_row": per_row, "price": str(price)})
    return sections


def layout_seat_count(layout: list[dict[str, Any]]) -> int:
    return sum(int(section["rows"]) * int(section["seats_per_row"]) for section in layout)


def row_label(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(65 + rest) + label
    return label


def create_venue(*, name: str, address: str = "", layout: Any) -> Venue:
    sections = validate_layout(layout)
    return Venue.objects.create(name=name, address=address, layout=sections, seat_count=layout_seat_count(sections))


def create_concert(*, venue: Venue, name: str, artist: str, description: str = "") -> Concert:
    return Concert.objects.create(venue=venue, name=name, artist=artist, description=description)


def _seats_for_layout(*, concert_date: ConcertDate, venue: Venue) -> Iterable[Seat]:
    seat_num = 0
    for section in validate_layout(venue.layout):
        price = Decimal(section["price"])
        for row in range(section["rows"]):
            for _ in range(section["seats_per_row"]):
                seat_num += 1
                yield Seat(
                    concert_date=concert_date,
                    venue=venue,
                    seat_num=seat_num,
                    section=section["name"],
                    row=row_label(row),
                    price=price,
                )


@transaction.atomic
def create_concert_date(
    *,
    concert: Concert,
    starts_at: dt.datetime,
    booking_opens_at: dt.datetime | None = None,
    batch_size: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> ConcertDate:
    """A performance with one seat per place in the venue layout (bulk-inserted in batches, each
    reported to `progress` with its size) and its inventory shards, in one transaction."""
    venue = concert.venue
    concert_date = ConcertDate.objects.create(
        concert=concert,
        starts_at=starts_at,
        booking_opens_at=booking_opens_at or timezone.now(),
        total_seats=layout_seat_count(venue.layout),
    )
    seats = iter(_seats_for_layout(concert_date=concert_date, venue=venue))
    per_shard: Counter[int] = Counter()
    while batch := list(islice(seats, batch_size)):
        Seat.objects.bulk_create(batch)  # sets the ids (INSERT … RETURNING on MariaDB, SQLite, PostgreSQL)
        ids = [seat.pk for seat in batch]
        if None in ids:  # MySQL returns no ids from a bulk insert
            numbers = [seat.seat_num for seat in batch]
            ids = Seat.objects.filter(concert_date=concert_date, seat_num__in=numbers).values_list("pk", flat=True)
        per_shard.update(map(inventory_shard_of, ids))
        if progress is not None:
            progress(len(batch))
    Inventory.objects.bulk_create(
        Inventory(concert=concert, concert_date=concert_date, shard=shard, total=n, remaining=n)
        for shard in range(INVENTORY_SHARDS)
        for n in [per_shard[shard]]
    )
    return concert_date


@transaction.atomic
def recount_inventory(*, concert_date_id: int) -> None:
    """Rebuild the date's inventory shards from its seats (seats written in bulk outside the seat
    transitions: seeding, benchmarks). Locks the date's seats in the global order, as a hold does."""
    concert_id = ConcertDate.objects.values_list("concert_id", flat=True).get(pk=concert_date_id)
    seats = Seat.objects.select_for_update().filter(concert_date_id=concert_date_id).order_by("pk")
    total: Counter[int] = Counter()
    available: Counter[int] = Counter()
    for seat_id, status in seats.values_list("pk", "status").iterator(chunk_size=20_000):
        total[inventory_shard_of(seat_id)] += 1
        available[inventory_shard_of(seat_id)] += status == SeatStatus.AVAILABLE
    Inventory.objects.filter(concert_date_id=concert_date_id).delete()
    Inventory.objects.bulk_create(
        Inventory(
            concert_id=concert_id,
            concert_date_id=concert_date_id,
            shard=shard,
            total=total[shard],
            remaining=available[shard],
        )
        for shard in range(INVENTORY_SHARDS)
    )
    run_on_commit(
        lambda: forget_seat_counts(concert_date_id=concert_date_id),
        description=f"forgetting the seat counts of date {concert_date_id}",
    )


def set_seat_price(*, seat_id: int, price: Decimal) -> None:
    """Reprice an AVAILABLE seat. Only the price column is written, and only while the seat is still
    AVAILABLE, so an edit can never undo a hold that landed after the form was loaded. The date's
    `layout_version` moves with it (the seat layout names prices), in the same transaction."""
    if not Decimal(price).is_finite() or price < 0:
        raise ValidationFailed("A price is a non-negative amount.", details={"price": ["Invalid price."]})
    updated = Seat.objects.filter(pk=seat_id, status=SeatStatus.AVAILABLE).update(
        price=price, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict(ErrorCode.SEAT_UNAVAILABLE, "The seat is held or reserved; its price cannot change now.")
    concert_date_id = Seat.objects.values_list("concert_date_id", flat=True).get(pk=seat_id)
    ConcertDate.objects.filter(pk=concert_date_id).update(
        layout_version=F("layout_version") + 1, updated_at=timezone.now()
    )
    _announce_seat_change(concert_date_id)
    from .selectors import forget_dates

    # This process sees the new layout at once, others within seconds.
    run_on_commit(forget_dates, description="forgetting the cached date facts")


@transaction.atomic
def delete_concert_date(*, concert_date_id: int) -> None:
    """Delete a performance with its seats and inventory. Refused with INVALID_STATE while any of its
    seats is held or reserved, or when reservations ever named it (they protect the date and its
    seats, so the booking history stays whole)."""
    # Lock the seats in the global order (seats, then inventory), as a hold does: a hold racing the
    # delete either commits first and is seen here, or waits and then finds its seats gone.
    statuses = set(
        Seat.objects.select_for_update()
        .filter(concert_date_id=concert_date_id)
        .order_by("pk")
        .values_list("status", flat=True)
    )
    if statuses - {SeatStatus.AVAILABLE}:
        raise Conflict(ErrorCode.INVALID_STATE, "Seats of this date are held or reserved; close its booking instead.")
    try:
        deleted, _ = ConcertDate.objects.filter(pk=concert_date_id).delete()
    except ProtectedError:
        raise Conflict(ErrorCode.INVALID_STATE, "Reservations were made for this date; close its booking instead.")
    if not deleted:
        raise NotFound("Concert date not found.")
    from .selectors import forget_dates

    forget_dates()


def set_booking_open(*, concert_date_ids: Sequence[int], is_open: bool) -> int:
    from .selectors import forget_dates

    updated = ConcertDate.objects.filter(pk__in=concert_date_ids).update(
        booking_open=is_open, updated_at=timezone.now()
    )
    forget_dates()  # this process sees it at once; others within DATE_FACTS_TTL_SECONDS
    return updated


# --- Seat state transitions (called inside the reservation/payment transaction) ---------------------


class SeatsTaken(Conflict):
    """SEAT_UNAVAILABLE (409) naming the taken seats in `details.seat_ids`. `expired` lists those of
    them still HELD by a hold that has expired but not been swept: they are free once it is released."""

    def __init__(self, seat_ids: Sequence[int], *, expired: Sequence[int] = ()) -> None:
        super().__init__(
            ErrorCode.SEAT_UNAVAILABLE,
            f"Seat{'s' if len(seat_ids) > 1 else ''} {', '.join(map(str, seat_ids))} already taken.",
            details={"seat_ids": list(seat_ids)},
        )
        self.expired = list(expired)


def seat_lock(seat_ids: Sequence[int], *, reading: Mapping[str, BaseExpression] | None = None) -> QuerySet[Seat]:
    """The locking read of seat rows in ascending id order: the one global lock order of the system.
    `reading` names subqueries the caller needs read under the locks it already holds, read in the
    same statement (no lock is taken on what they read) and set on each seat."""
    seats = Seat.objects.select_for_update().filter(pk__in=sorted(set(seat_ids))).order_by("pk")
    return seats.annotate(**reading) if reading else seats


def lock_seats(seat_ids: Sequence[int]) -> list[Seat]:
    """Lock seat rows in ascending id order (`seat_lock`)."""
    return list(seat_lock(seat_ids))


def seats_not_of_date() -> NotFound:
    """NOT_FOUND for a hold naming a seat the date does not have."""
    return NotFound("One or more seats do not exist for this concert date.")


def seats_no_longer_held() -> Conflict:
    """INVALID_STATE for a payment whose reservation's seats were no longer held when it confirmed them."""
    return Conflict(ErrorCode.INVALID_STATE, "The seats are no longer held for this reservation.")


def inventory_busy() -> ServiceUnavailable:
    """503 for a change of the inventory whose shard versions kept moving past their bounded retries."""
    return ServiceUnavailable("The seat inventory is busy; nothing was changed. Try again.")


def shard_deltas(seat_ids: Iterable[int], *, per_seat: int) -> dict[int, int]:
    """{inventory shard: change of its remaining} when each of `seat_ids` changes it by `per_seat`."""
    return {shard: n * per_seat for shard, n in Counter(map(inventory_shard_of, seat_ids)).items()}


def _change_remaining(
    *, concert_date_id: int, deltas: Mapping[int, int], versions: Mapping[int, int | None] | None = None
) -> None:
    """remaining += delta on each shard in `deltas`, in ascending shard order (one lock order, so two
    transactions touching the same shards cannot deadlock), each an optimistic version-checked UPDATE
    retried a bounded number of times. `versions` are versions the caller read earlier in the
    transaction (in a statement it needed anyway); a stale one costs one re-read."""
    now = timezone.now()
    for shard in sorted(deltas):
        version = (versions or {}).get(shard)
        for _ in range(INVENTORY_VERSION_RETRIES):
            if version is None:
                version = (
                    Inventory.objects.filter(concert_date_id=concert_date_id, shard=shard)
                    .values_list("version", flat=True)
                    .first()
                )
                if version is None:
                    raise NotFound("Unknown concert date.")
            updated = Inventory.objects.filter(concert_date_id=concert_date_id, shard=shard, version=version).update(
                remaining=F("remaining") + deltas[shard], version=F("version") + 1, updated_at=now
            )
            if updated:
                break
            version = None
        else:
            raise inventory_busy()


def _announce_seat_change(
    concert_date_id: int, seat_ids: Iterable[int] | None = None, *, available: int = 0, held: int = 0
) -> None:
    """The seat map must show a committed change in the next read: the effect drops it right after
    commit, and if Redis fails at that moment the relay drops it within a second. Naming the changed
    seats lets the map patch its last version instead of reading every seat again; None means
    "anything may have changed" (a new layout). `available` and `held` are how the change moved the
    date's free and held seats: the waiting room's counts (`seat_counts`) move with them right after
    commit, once and not through the outbox (a delta replayed would count twice; a lost one shows
    until the counts are rebuilt, within COUNTS_TTL_SECONDS)."""
    changed = sorted(set(seat_ids)) if seat_ids is not None else None
    outbox.emit(SEAT_MAP_CHANGED, concert_date_id=concert_date_id, seat_ids=changed)
    _count_seat_change(concert_date_id, available=available, held=held)


def _count_seat_change(concert_date_id: int, *, available: int = 0, held: int = 0) -> None:
    if available or held:
        script_on_commit(
            seat_count_change(concert_date_id=concert_date_id, available=available, held=held),
            description=f"moving the seat counts of date {concert_date_id}",
        )


# The booking path's writes of seats and shards, compiled once per shape (apps.common.db.PreparedUpdate).
_HOLD_SEATS = PreparedUpdate(
    lambda *, seat_ids, held_until, now: (
        Seat.objects.filter(pk__in=seat_ids),
        {"status": SeatStatus.HELD, "held_until": held_until, "version": F("version") + 1, "updated_at": now},
    )
)
_SHARD_UPDATE = PreparedUpdate(
    lambda *, concert_date_id, shard, version, delta, now: (
        Inventory.objects.filter(concert_date_id=concert_date_id, shard=shard, version=version),
        {"remaining": F("remaining") + delta, "version": F("version") + 1, "updated_at": now},
    )
)
_RESERVE_SEATS = PreparedUpdate(
    lambda *, seat_ids, concert_date_id, now: (
        Seat.objects.filter(pk__in=seat_ids, concert_date_id=concert_date_id, status=SeatStatus.HELD),
        {"status": SeatStatus.RESERVED, "held_until": None, "version": F("version") + 1, "updated_at": now},
    )
)


def mark_seats_held(
    *,
    concert_date_id: int,
    seat_ids: Sequence[int],
    held_until: dt.datetime,
    shard_versions: Mapping[int, int | None] | None = None,
    lock: Callable[[], list[Seat]] | None = None,
    check: Callable[[Seat], None] | None = None,
    then: Callable[[list[Seat]], Sequence[Statement]] | None = None,
    then_done: Callable[[list[StatementResult]], None] | None = None,
) -> list[Seat]:
    """AVAILABLE → HELD for every seat or none, in two round trips: the seat lock, then one batch of
    the seat update, the shards' version-checked updates, the seat-map outbox row and the caller's
    own statements (`then(seats)`, whose results go to `then_done`). Raises NOT_FOUND if a
    seat is not of this date, SEAT_UNAVAILABLE (409, details.seat_ids) if any is held or reserved.
    Caller holds the transaction; `shard_versions` are the inventory shards' versions if it read them
    already (`hold_preview`; a shard without one, or with a stale one, costs a read and a retry).
    `lock()` locks the seats when the caller reads more with the lock (`seat_lock` with its `reading`,
    compiled once: `apps.common.db.PreparedSelect`); else `lock_seats` does. `check` is called
    with the first seat once the seats are known to be of this date, before anything is written: the
    caller's rules on what it read (it raises to refuse)."""
    seats = lock() if lock is not None else lock_seats(seat_ids)
    if len(seats) != len(set(seat_ids)) or any(seat.concert_date_id != concert_date_id for seat in seats):
        raise seats_not_of_date()
    if check is not None:
        check(seats[0])
    taken = [seat for seat in seats if seat.status != SeatStatus.AVAILABLE]
    if taken:
        metrics.seat_conflict()
        now = timezone.now()
        expired = [seat.pk for seat in taken if seat.effective_status(now) == SeatStatus.AVAILABLE]
        raise SeatsTaken([seat.pk for seat in taken], expired=expired)
    ids = [seat.pk for seat in seats]
    now = timezone.now()
    deltas = shard_deltas(ids, per_seat=-1)
    versions = {shard: (shard_versions or {}).get(shard) for shard in sorted(deltas)}
    known = [shard for shard, version in versions.items() if version is not None]
    announce = Emission(SEAT_MAP_CHANGED, concert_date_id=concert_date_id, seat_ids=sorted(ids))
    results = run_batch(
        [
            _HOLD_SEATS.statement(seat_ids=ids, held_until=held_until, now=now),
            *(
                _SHARD_UPDATE.statement(
                    concert_date_id=concert_date_id, shard=shard, version=versions[shard], delta=deltas[shard], now=now
                )
                for shard in known
            ),
            announce.statement,
            *(then(seats) if then else ()),
        ]
    )
    # A shard whose version moved since it was read (or was not read) is updated again after a fresh
    # read: still in this transaction, so the hold commits whole or not at all. Its row lock then
    # comes after those of the batch's higher shards; a deadlock that order meets is retried whole
    # (`retry_on_lock_conflict`), and needs a multi-shard hold whose read version went stale.
    missed = {shard: deltas[shard] for shard in versions if shard not in known}
    missed |= {shard: deltas[shard] for shard, result in zip(known, results[1:], strict=False) if not result.rowcount}
    if missed:
        _change_remaining(concert_date_id=concert_date_id, deltas=missed)
    announce.inserted(results[1 + len(known)])
    _count_seat_change(concert_date_id, available=-len(seats), held=len(seats))
    for seat in seats:
        seat.status, seat.held_until = SeatStatus.HELD, held_until
    if then_done:
        then_done(results[2 + len(known) :])
    return seats


@dataclass(frozen=True)
class SeatsHeldOnServer:
    """`mark_seats_held` for a hold whose statements run on the database server (a stored procedure:
    apps.reservations' hold call): what the server must change besides the seats, and `held` to call
    once it did. The server flips the seats AVAILABLE → HELD under their locks, changes each shard's
    `remaining` by `shard_changes` (ascending shards, each with its version check, retried at most
    `version_retries` times), and inserts the seat-map outbox row (`announcement`)."""

    concert_date_id: int
    seat_ids: list[int]
    shard_changes: list[tuple[int, int]]
    announcement: ServerEmission
    version_retries: int = INVENTORY_VERSION_RETRIES

    @classmethod
    def of(cls, *, concert_date_id: int, seat_ids: Sequence[int]) -> SeatsHeldOnServer:
        ids = sorted(seat_ids)
        return cls(
            concert_date_id=concert_date_id,
            seat_ids=ids,
            shard_changes=sorted(shard_deltas(ids, per_seat=-1).items()),
            announcement=ServerEmission(SEAT_MAP_CHANGED, concert_date_id=concert_date_id, seat_ids=ids),
        )

    def held(self, *, event_id: int, at: dt.datetime) -> None:
        """The server held the seats and inserted the outbox row `event_id` (at `at`): the seat map's
        patch and the seat counts follow the commit, as `mark_seats_held`'s do."""
        self.announcement.inserted(event_id, at)
        _count_seat_change(self.concert_date_id, available=-len(self.seat_ids), held=len(self.seat_ids))


def reserve_seats_statements(
    *, concert_date_id: int, seat_ids: Sequence[int]
) -> tuple[list[Statement], Callable[[list[StatementResult]], None]]:
    """HELD → RESERVED (paid), every seat or none, as statements for the caller's batch (`run_batch`):
    the conditional seat UPDATE and the seat-map outbox row; then call the returned function with
    their results (it raises INVALID_STATE when a seat was not HELD, and the caller's transaction must
    roll back). `remaining` does not change: it counts AVAILABLE seats. One conditional UPDATE instead
    of lock-then-update: the caller holds the lock of the reservation that holds these seats, so
    nothing else can be changing them, and the UPDATE takes its row locks in ascending id order
    (InnoDB walks an IN list in key order), the global order."""
    seat_ids = sorted(set(seat_ids))
    announce = Emission(SEAT_MAP_CHANGED, concert_date_id=concert_date_id, seat_ids=seat_ids)
    reserve = _RESERVE_SEATS.statement(seat_ids=seat_ids, concert_date_id=concert_date_id, now=timezone.now())

    def done(results: list[StatementResult]) -> None:
        if results[0].rowcount != len(seat_ids):
            raise seats_no_longer_held()
        announce.inserted(results[1])
        _count_seat_change(concert_date_id, held=-len(seat_ids))

    return [reserve, announce.statement], done


def seats_reserved_on_server(*, concert_date_id: int, seat_ids: Sequence[int], event_id: int, at: dt.datetime) -> None:
    """`reserve_seats_statements`'s effects for seats the database server reserved itself (a stored
    procedure: apps.payments' pay call), with the seat-map outbox row `event_id` it inserted at `at`:
    the seat map's patch and the seat counts follow the commit."""
    ids = sorted(seat_ids)
    ServerEmission(SEAT_MAP_CHANGED, concert_date_id=concert_date_id, seat_ids=ids).inserted(event_id, at)
    _count_seat_change(concert_date_id, held=-len(ids))


def release_seats(*, concert_date_id: int, seat_ids: Sequence[int]) -> None:
    """HELD/RESERVED → AVAILABLE (a hold expired or was cancelled, a booking was refunded)."""
    seats = [seat for seat in lock_seats(seat_ids) if seat.status != SeatStatus.AVAILABLE]
    if not seats:
        return
    Seat.objects.filter(pk__in=[seat.pk for seat in seats]).update(
        status=SeatStatus.AVAILABLE, held_until=None, version=F("version") + 1, updated_at=timezone.now()
    )
    _change_remaining(concert_date_id=concert_date_id, deltas=shard_deltas((seat.pk for seat in seats), per_seat=1))
    held = sum(seat.status == SeatStatus.HELD for seat in seats)
    _announce_seat_change(concert_date_id, [seat.pk for seat in seats], available=len(seats), held=-held)
