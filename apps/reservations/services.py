"""Seat holds: create and expire them, and the steps the payments services build paying for and
cancelling a reservation from (lock, confirm, cancel).

Lock order, the same everywhere so that transactions queue instead of deadlocking:
reservation row → user row (wallet) → seat rows (ascending id) → inventory row.
A hold locks the user row first (it has no reservation yet), which also serialises one user's own
holds so the per-user cap is exact.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.services import user_lock
from apps.common import metrics
from apps.common.db import (
    IdList,
    LastInsertId,
    PreparedSelect,
    PreparedUpdate,
    Statement,
    StatementResult,
    as_loaded,
    insert_statement,
    inserted_ids,
    procedure_transaction,
    read_id_list,
    retry_on_lock_conflict,
    run_batch,
)
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from apps.concerts import choosing, seat_map
from apps.concerts import selectors as concert_selectors
from apps.concerts import services as concert_services
from apps.concerts.models import Seat, SeatStatus
from apps.concerts.selectors import date_facts

from . import hold_call
from .models import Reservation, ReservationItem, ReservationStatus

# Holds one best-available request tries before it answers 503 (busy): each lost race excludes the
# seats it lost and spreads the next choice over twice as many of the best blocks (1, 2, 4, ...).
BEST_AVAILABLE_ATTEMPTS = 16
BEST_AVAILABLE_MAX_SPREAD = 64
BEST_AVAILABLE_BACKOFF_SECONDS = 0.005  # a lost race waits up to this times the races lost so far

_spread_random = random.Random()


class NotEnoughSeats(Conflict):
    """NOT_ENOUGH_SEATS (409): nothing fits the best-available request; `details` says what is left."""

    def __init__(self, shortfall: choosing.Shortfall, *, together: bool) -> None:
        where = f"section {shortfall.section}" if shortfall.section is not None else "this date"
        side_by_side = f", at most {shortfall.largest_together} side by side" if together else ""
        super().__init__(
            ErrorCode.NOT_ENOUGH_SEATS,
            f"No {shortfall.quantity} free seats{' together' if together else ''} in {where}: "
            f"{shortfall.available} free{side_by_side}.",
            details=asdict(shortfall),
        )


def _clean_seat_ids(seat_ids: Sequence[int]) -> list[int]:
    if not 1 <= len(seat_ids) <= settings.MAX_SEATS_PER_RESERVATION:
        raise ValidationFailed(
            f"Choose 1 to {settings.MAX_SEATS_PER_RESERVATION} seats.", details={"seat_ids": ["Wrong number of seats."]}
        )
    if len(set(seat_ids)) != len(seat_ids):
        raise ValidationFailed("A seat is listed twice.", details={"seat_ids": ["Duplicate seat ids."]})
    return list(seat_ids)


def _release_stale_holds_on(seat_ids: Sequence[int], now: dt.datetime) -> int:
    """A seat still HELD by a hold that has expired is free (`expires_at` is the authority): release
    those holds now, exactly as the sweep would, instead of refusing the seat until it runs."""
    stale = list(
        Reservation.objects.filter(
            status=ReservationStatus.HELD,
            expires_at__lte=now,
            items__live_seat_id__in=seat_ids,
        ).values_list("pk", flat=True)
    )
    return release_expired_holds(reservation_ids=stale, now=now) if stale else 0


@retry_on_lock_conflict
def hold_seats(
    *, user: Any, concert_date_id: int, seat_ids: Sequence[int], map_version: int | seat_map.VersionRead | None = None
) -> Reservation:
    """Hold every seat in `seat_ids` for HOLD_TTL_SECONDS, or none.

    Seats that the stored seat status shows held or reserved are refused before any transaction
    opens (no database statement); the database decides every seat it shows free. `map_version` is
    the seat map's version when the caller read it already (`seat_map.queue_version_read`; a
    `VersionRead` carries the change log read beside it).

    Raises NOT_FOUND (unknown date, or a seat not of this date), BOOKING_CLOSED (409),
    SEAT_UNAVAILABLE (409, details.seat_ids lists the taken seats), HOLD_LIMIT_REACHED (409: the
    user already has MAX_LIVE_HOLDS_PER_USER_PER_DATE live holds for the date, or would hold and own
    more than MAX_SEATS_PER_BUYER_PER_DATE of its seats, all reservations together), VALIDATION_ERROR.
    The returned reservation carries its items and seats (no further query to render it)."""
    seat_ids = _clean_seat_ids(seat_ids)
    facts = _bookable_date(concert_date_id)
    _refuse_seats_shown_taken(concert_date_id=concert_date_id, seat_ids=seat_ids, map_version=map_version)
    now = timezone.now()
    try:
        return _create_hold(
            user_id=user.pk, concert_id=facts.concert_id, concert_date_id=concert_date_id, seat_ids=seat_ids, now=now
        )
    except concert_services.SeatsTaken as exc:
        # Seats whose hold has expired but not been swept yet: free them and try once more.
        if not exc.expired or not _release_stale_holds_on(exc.expired, now):
            raise
    return _create_hold(
        user_id=user.pk, concert_id=facts.concert_id, concert_date_id=concert_date_id, seat_ids=seat_ids, now=now
    )


def _bookable_date(concert_date_id: int) -> concert_selectors.DateFacts:
    facts = date_facts(concert_date_id)
    if facts is None:
        raise NotFound("Unknown concert date.")
    if not facts.booking_open_now():
        raise Conflict(ErrorCode.BOOKING_CLOSED, "Booking is not open for this concert date.")
    return facts


def _refuse_seats_shown_taken(
    *, concert_date_id: int, seat_ids: Sequence[int], map_version: int | seat_map.VersionRead | None
) -> None:
    """SEAT_UNAVAILABLE for the seats the stored status shows held or reserved, from the bytes the
    seat map keeps (usually this process's copy): in a rush most refusals cost no database statement.
    A status a moment old may show a seat free that is taken by now: the hold's transaction decides.
    The process's copy answers when the change log shows none of these seats changed since it was
    made; else it is brought up to date (codes only: nothing stored or rendered for a hold)."""
    status = seat_map.seat_status(concert_date_id=concert_date_id, version=map_version, shared=False, reading=seat_ids)
    plan = choosing.seat_plan(concert_date_id=concert_date_id, layout_version=status.layout_version)
    if plan.size != len(status.codes):  # a layout change between the two reads: the database decides
        return
    taken = plan.taken(status.codes, seat_ids)
    if taken:
        metrics.seat_conflict()
        raise concert_services.SeatsTaken(sorted(taken))


@retry_on_lock_conflict
def hold_best_available(
    *,
    user: Any,
    concert_date_id: int,
    quantity: int,
    section: str | None = None,
    together: bool = True,
    map_version: int | seat_map.VersionRead | None = None,
) -> Reservation:
    """Hold the best `quantity` free seats of `section` (of the date's sections in layout order when
    None) for HOLD_TTL_SECONDS: side by side in one row, the first row in layout order that has such
    a block, the block nearest the row's centre that strands no single seat (`choosing.choose`); with
    `together=False`, the free seats nearest each other in one section when no row has a block.

    The seats are chosen from the stored seat status (no database read) and held by the same
    transaction as named seats (`_create_hold`: seat locks in ascending id order, the inventory's
    version check). A chosen seat taken in between is excluded and the request chooses again, over
    more of the best blocks each time (buyers who read the same status do not fall on the same block
    again), up to BEST_AVAILABLE_ATTEMPTS holds: it never answers SEAT_UNAVAILABLE.

    Raises NOT_FOUND (unknown date), BOOKING_CLOSED (409), NOT_ENOUGH_SEATS (409, details
    {section, quantity, available, largest_together}), HOLD_LIMIT_REACHED (409), VALIDATION_ERROR
    (quantity out of bounds, a section the date does not have), SERVICE_UNAVAILABLE (503, every
    attempt lost its race)."""
    if not 1 <= quantity <= settings.MAX_SEATS_PER_RESERVATION:
        raise ValidationFailed(
            f"Choose 1 to {settings.MAX_SEATS_PER_RESERVATION} seats.", details={"quantity": ["Out of bounds."]}
        )
    facts = _bookable_date(concert_date_id)
    now = timezone.now()
    lost: set[int] = set()  # seats the database refused to this request
    races_lost = 0
    version = map_version
    for _ in range(BEST_AVAILABLE_ATTEMPTS):
        status = seat_map.seat_status(concert_date_id=concert_date_id, version=version, shared=False)
        version = None  # after a lost race, read the newest status
        plan = choosing.seat_plan(concert_date_id=concert_date_id, layout_version=status.layout_version)
        if section is not None and section not in plan.rows_of:
            raise ValidationFailed(
                f"This date has no section {section!r}.", details={"section": [f"One of: {', '.join(plan.sections)}."]}
            )
        if plan.size != len(status.codes):  # the layout changed between the two reads: read again
            continue
        runs = choosing.free_runs(plan, status.codes).excluding(
            {plan.position_of(seat_id) for seat_id in lost} - {None}
        )
        choice = choosing.choose(
            runs,
            quantity=quantity,
            section=section,
            together=together,
            spread=min(2**races_lost, BEST_AVAILABLE_MAX_SPREAD),
            rng=_spread_random,
        )
        if isinstance(choice, choosing.Shortfall):
            metrics.best_available_attempt("not_enough")
            raise NotEnoughSeats(choice, together=together)
        try:
            reservation = _create_hold(
                user_id=user.pk,
                concert_id=facts.concert_id,
                concert_date_id=concert_date_id,
                seat_ids=sorted(choice.seat_ids),
                now=now,
            )
            metrics.best_available_attempt("held")
            return reservation
        except concert_services.SeatsTaken as exc:
            refused = set(exc.details["seat_ids"])
            # Seats of holds that have expired but not been swept are free once released.
            if exc.expired and _release_stale_holds_on(exc.expired, now):
                refused -= set(exc.expired)
            if refused:
                metrics.best_available_attempt("lost_race")
                lost |= refused
                races_lost += 1
                # Let the winners' commits reach the seat map, and the losers of one race part ways.
                time.sleep(_spread_random.uniform(0, BEST_AVAILABLE_BACKOFF_SECONDS * races_lost))
    raise ServiceUnavailable("Seats are in high demand; nothing was held. Try again.")


def _buyer_columns(*, user_id: int, concert_date_id: int, now: dt.datetime) -> dict[str, Any]:
    """The user's live holds of the date, and the seats the user holds or owns there (live holds and
    confirmed reservations together: the per-buyer cap), as scalar subqueries."""
    live = Q(reservation__status=ReservationStatus.CONFIRMED) | Q(
        reservation__status=ReservationStatus.HELD, reservation__expires_at__gt=now
    )
    live_holds = Reservation.objects.filter(
        user_id=user_id, concert_date_id=concert_date_id, status=ReservationStatus.HELD, expires_at__gt=now
    )
    seats = ReservationItem.objects.filter(
        live, reservation__user_id=user_id, reservation__concert_date_id=concert_date_id
    )
    return {
        "live_holds": Coalesce(
            Subquery(live_holds.order_by().values("user_id").annotate(n=Count("pk")).values("n")), 0
        ),
        "seats_of_date": Coalesce(
            Subquery(seats.order_by().values("reservation__user_id").annotate(n=Count("pk")).values("n")), 0
        ),
    }


# The hold's locks, compiled once per shape (`_create_hold`): the user lock with the hold preview read
# in it, then the seat lock with the buyer's holds and seats of the date read in it.
_HOLD_SEAT_LOCK = PreparedSelect(
    lambda *, seat_ids, user_id, concert_date_id, now: concert_services.seat_lock(
        seat_ids, reading=_buyer_columns(user_id=user_id, concert_date_id=concert_date_id, now=now)
    )
)
_HOLD_USER_LOCK = PreparedSelect(
    lambda *, user_id, concert_date_id, seat_ids, shards, now: user_lock(
        user_id=user_id,
        reading=concert_selectors.hold_preview_columns(
            concert_date_id=concert_date_id, seat_ids=seat_ids, shards=shards, now=now
        ),
    ),
    fields=("id", "balance"),
)


def _create_hold(
    *, user_id: int, concert_id: int, concert_date_id: int, seat_ids: list[int], now: dt.datetime
) -> Reservation:
    """The hold transaction: on MariaDB one call of the hold procedure (`hold_call`, the same steps
    on the server); else (SQLite, or HOLD_PROCEDURE off) in four round trips: lock the user, reading the requested
    seats already taken and the inventory shards' versions with it (the transaction's begin travels
    with it; a hold of a taken seat ends there, then its rollback); lock the seats, reading the
    user's live holds and seats of the date with them; one batch that flips the seats, updates each
    inventory shard with its version check (usually one), inserts the seat-map outbox row, the
    reservation and its items (`mark_seats_held`); the commit.

    The user's counts are read in the seat lock, not the user lock: a statement's reads see what was
    committed when it started, and the user lock's may have started before another hold of the same
    user committed and let it go. The seat lock starts after this hold owns the user row, so its
    counts are exact (the per-user caps are checked under the user lock)."""
    expires_at = now + dt.timedelta(seconds=settings.HOLD_TTL_SECONDS)
    if hold_call.usable():
        return _create_hold_by_call(
            user_id=user_id,
            concert_id=concert_id,
            concert_date_id=concert_date_id,
            seat_ids=seat_ids,
            now=now,
            expires_at=expires_at,
        )

    def check_buyer_caps(seat: Any) -> None:
        if seat.live_holds >= settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE:
            raise _hold_limit(seat.live_holds)
        if seat.seats_of_date + len(seat_ids) > settings.MAX_SEATS_PER_BUYER_PER_DATE:
            raise _seat_limit(seat.seats_of_date)

    shards = concert_selectors.hold_preview_shards(seat_ids)
    with transaction.atomic():
        # The user lock comes first: it serialises one user's holds, so the counts read after it are exact.
        lock, read_user = _HOLD_USER_LOCK.statement(
            user_id=user_id, concert_date_id=concert_date_id, seat_ids=list(seat_ids), shards=shards, now=now
        )
        (user,) = read_user(run_batch([lock])[0]) or [None]
        if user is None:
            raise NotFound("No such user.")
        preview = concert_selectors.read_hold_preview(user, shards=shards)
        if None in preview.shard_versions.values():
            raise NotFound("Unknown concert date.")
        if preview.taken:  # a requested seat is taken (the hot seat): refuse it without locking any
            metrics.seat_conflict()
            raise concert_services.SeatsTaken(preview.taken)
        seat_lock, read_seats = _HOLD_SEAT_LOCK.statement(
            seat_ids=sorted(seat_ids), user_id=user_id, concert_date_id=concert_date_id, now=now
        )
        reservation = Reservation(
            user_id=user_id,
            concert_id=concert_id,
            concert_date_id=concert_date_id,
            status=ReservationStatus.HELD,
            expires_at=expires_at,
        )
        items: list[ReservationItem] = []

        def insert_reservation(seats: list[Any]) -> list[Statement]:
            reservation.total_price = sum((seat.price for seat in seats), start=Decimal(0))
            items.extend(
                ReservationItem(reservation_id=LastInsertId(Reservation), seat=seat, live_seat=seat, price=seat.price)
                for seat in seats
            )
            return [insert_statement(Reservation, [reservation]), insert_statement(ReservationItem, items)]

        def inserted(results: list[StatementResult]) -> None:
            (reservation.pk,) = inserted_ids(results[0], 1)
            for item, item_id in zip(items, inserted_ids(results[1], len(items)), strict=True):
                item.pk, item.reservation = item_id, reservation

        concert_services.mark_seats_held(
            concert_date_id=concert_date_id,
            seat_ids=seat_ids,
            held_until=expires_at,
            shard_versions=preview.shard_versions,
            lock=lambda: read_seats(run_batch([seat_lock])[0]),
            check=check_buyer_caps,
            then=insert_reservation,
            then_done=inserted,
        )
    as_loaded(reservation)
    for item in items:
        as_loaded(item)
    reservation._prefetched_objects_cache = {"items": items}  # rendered without reading it back
    metrics.hold_made()
    return reservation


def _hold_limit(live_holds: int) -> Conflict:
    return Conflict(
        ErrorCode.HOLD_LIMIT_REACHED,
        f"You already hold seats in {live_holds} reservations for this date; pay or cancel one first.",
    )


def _seat_limit(seats_of_date: int) -> Conflict:
    return Conflict(
        ErrorCode.HOLD_LIMIT_REACHED,
        f"A buyer may have at most {settings.MAX_SEATS_PER_BUYER_PER_DATE} seats of a date; "
        f"you hold or own {seats_of_date}.",
        details={"seats_of_date": seats_of_date, "max": settings.MAX_SEATS_PER_BUYER_PER_DATE},
    )


def _create_hold_by_call(
    *,
    user_id: int,
    concert_id: int,
    concert_date_id: int,
    seat_ids: list[int],
    now: dt.datetime,
    expires_at: dt.datetime,
) -> Reservation:
    """`_create_hold` as one call of the hold procedure: the same locks in the same order, the same
    refusals, the same rows and effects after commit. With no transaction open the procedure owns
    one (one round trip); inside the caller's, a savepoint undoes what a refusal leaves."""
    seats = concert_services.SeatsHeldOnServer.of(concert_date_id=concert_date_id, seat_ids=seat_ids)
    with procedure_transaction():
        answer = hold_call.call(user_id=user_id, concert_id=concert_id, seats=seats, now=now, expires_at=expires_at)
        if answer.outcome != hold_call.HELD:
            _refuse_hold(answer)
        seats.held(event_id=answer.event_id, at=now)
    reservation = as_loaded(
        Reservation(
            pk=answer.reservation_id,
            user_id=user_id,
            concert_id=concert_id,
            concert_date_id=concert_date_id,
            status=ReservationStatus.HELD,
            total_price=answer.total_price,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
    )
    items = []
    for held in answer.seats:
        seat = as_loaded(
            Seat(
                pk=held.seat_id,
                concert_date_id=concert_date_id,
                seat_num=held.seat_num,
                section=held.section,
                row=held.row,
                price=held.price,
                status=SeatStatus.HELD,
                held_until=expires_at,
            )
        )
        item = ReservationItem(pk=held.item_id, reservation=reservation, seat=seat, live_seat=seat, price=held.price)
        item.created_at = item.updated_at = now
        items.append(as_loaded(item))
    reservation._prefetched_objects_cache = {"items": items}  # rendered without reading it back
    metrics.hold_made()
    return reservation


def _refuse_hold(answer: hold_call.Answer) -> NoReturn:
    """The exception `_create_hold` raises for the same refusal."""
    match answer.outcome:
        case "no_user":
            raise NotFound("No such user.")
        case "no_date":
            raise NotFound("Unknown concert date.")
        case "no_seat":
            raise concert_services.seats_not_of_date()
        case "hold_limit":
            raise _hold_limit(answer.live_holds)
        case "seat_limit":
            raise _seat_limit(answer.seats_of_date)
        case "taken" | "taken_locked":
            metrics.seat_conflict()
            raise concert_services.SeatsTaken(answer.taken, expired=answer.expired)
        case "busy":
            raise concert_services.inventory_busy()
    raise ValueError(f"the hold procedure answered {answer.outcome!r}")


def _seat_ids_of(reservation: Reservation) -> list[int]:
    """The reservation's seat ids: read with its lock (`lock_own_reservation`), or read now."""
    if hasattr(reservation, "seat_id_list"):
        return read_id_list(reservation.seat_id_list)
    return list(reservation.items.values_list("seat_id", flat=True))


def _end_reservation(reservation: Reservation, status: ReservationStatus, now: dt.datetime) -> None:
    """End a live reservation (caller holds its lock): free its seats and its live-seat claims."""
    seat_ids = _seat_ids_of(reservation)
    Reservation.objects.filter(pk=reservation.pk).update(status=status, ended_at=now, updated_at=now)
    ReservationItem.objects.filter(reservation_id=reservation.pk).update(live_seat=None, updated_at=now)
    concert_services.release_seats(concert_date_id=reservation.concert_date_id, seat_ids=seat_ids)
    reservation.status, reservation.ended_at = status, now


@retry_on_lock_conflict
def release_expired_holds(
    *, batch_size: int | None = None, reservation_ids: Sequence[int] | None = None, now: dt.datetime | None = None
) -> int:
    """EXPIRE every HELD reservation past `expires_at`, in batches, and return how many.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED: a hold being paid right now is locked by
    the payment and skipped (the payment then either confirms it or finds it expired and fails), and
    two sweeps running at once never take the same row, so each hold is released exactly once."""
    batch_size = batch_size or settings.HOLD_SWEEP_BATCH
    released = 0
    while True:
        now_ = now or timezone.now()
        with transaction.atomic():
            query = Reservation.objects.filter(status=ReservationStatus.HELD, expires_at__lte=now_)
            if reservation_ids is not None:
                query = query.filter(pk__in=reservation_ids)
            batch = list(query.select_for_update(skip_locked=True).order_by("pk")[:batch_size])
            for reservation in batch:
                _end_reservation(reservation, ReservationStatus.EXPIRED, now_)
        released += len(batch)
        metrics.holds_expired(len(batch))
        if len(batch) < batch_size:
            return released


# --- Building blocks of the payments services, called inside their transaction ------------------


def _own_reservation_query(*, user_id: int, reservation_id: int) -> QuerySet[Reservation]:
    seat_ids = ReservationItem.objects.filter(reservation_id=OuterRef("pk")).order_by().values("reservation_id")
    return (
        Reservation.objects.select_for_update()
        .annotate(seat_id_list=Subquery(seat_ids.annotate(ids=IdList("seat_id")).values("ids")))
        .filter(pk=reservation_id, user_id=user_id)
    )


# A payment's first statement (with the wallet's), compiled once (`own_reservation_lock`).
_OWN_RESERVATION_LOCK = PreparedSelect(_own_reservation_query)


def lock_own_reservation(*, user: Any, reservation_id: int) -> Reservation:
    """Lock one of the user's reservations; NOT_FOUND (also for another user's reservation). Its
    seat ids are read in the same statement (a reservation's seats never change once it is
    committed, so the subquery's unlocked read is exact)."""
    reservation = _own_reservation_query(user_id=user.pk, reservation_id=reservation_id).first()
    if reservation is None:
        raise NotFound("Reservation not found.")
    return reservation


def lock_reservation(*, reservation_id: int) -> Reservation | None:
    """Lock a reservation whoever owns it (for the effects that follow a payment); None if unknown."""
    return Reservation.objects.select_for_update().filter(pk=reservation_id).first()


def lock_reservations(*, reservation_ids: Sequence[int]) -> list[tuple[Reservation, list[int]]]:
    """Lock reservations whoever owns them, in ascending id order (as every multi-row lock here is
    taken), each with its items' seat ids: the known ones among `reservation_ids`."""
    locked = list(Reservation.objects.select_for_update().filter(pk__in=set(reservation_ids)).order_by("pk"))
    seats: dict[int, list[int]] = {reservation.pk: [] for reservation in locked}
    items = ReservationItem.objects.filter(reservation_id__in=list(seats)).order_by("pk")
    for reservation_id, seat_id in items.values_list("reservation_id", "seat_id"):
        seats[reservation_id].append(seat_id)
    return [(reservation, seats[reservation.pk]) for reservation in locked]


def cancel_live_reservation(*, reservation: Reservation, now: dt.datetime) -> None:
    """End a live reservation as CANCELLED and free its seats (caller holds its lock, and has
    refunded a CONFIRMED one). Raises INVALID_STATE (409) for one that has already ended."""
    status = reservation.effective_status(now)
    if status not in (ReservationStatus.HELD, ReservationStatus.CONFIRMED):
        raise Conflict(ErrorCode.INVALID_STATE, f"This reservation is already {status.lower()}.")
    _end_reservation(reservation, ReservationStatus.CANCELLED, now)
    if status == ReservationStatus.HELD:
        metrics.hold_cancelled()


# What cancelling a paid booking also undoes (its payment's refund, its tickets), in the cancelling
# transaction: the payments app, above this one in the layers, registers it at start-up
# (PaymentsConfig.ready), so this app never imports it.
_undo_booking: Callable[..., None] | None = None


def set_booking_undo(undo: Callable[..., None]) -> None:
    """Register `undo(reservation=, now=)`, called with a CONFIRMED reservation locked, before it is
    cancelled; it raises to refuse the cancellation (the transaction then rolls back)."""
    global _undo_booking
    _undo_booking = undo


@retry_on_lock_conflict
def cancel_reservation(*, user: Any, reservation_id: int) -> Reservation:
    """Cancel one of the user's reservations. A live hold frees its seats; a paid booking is also
    undone by the registered undo (the payments app: a refund to the wallet until REFUND_CUTOFF_HOURS
    before the show, its tickets voided). Raises NOT_FOUND (also for another user's reservation) and
    INVALID_STATE (409: already ended, or too close to the show)."""
    now = timezone.now()
    with transaction.atomic():
        reservation = lock_own_reservation(user=user, reservation_id=reservation_id)
        if reservation.effective_status(now) == ReservationStatus.CONFIRMED:
            if _undo_booking is None:
                raise ImproperlyConfigured("Nothing undoes a paid booking: apps.payments registers it when installed.")
            _undo_booking(reservation=reservation, now=now)
        cancel_live_reservation(reservation=reservation, now=now)
    return reservation


def own_reservation_lock(
    *, user: Any, reservation_id: int
) -> tuple[Statement, Callable[[StatementResult], Reservation]]:
    """`lock_own_reservation` as a statement for the caller's batch (`run_batch`), and the function
    that reads its result (NOT_FOUND when there is no such reservation of the user)."""
    statement, read = _OWN_RESERVATION_LOCK.statement(user_id=user.pk, reservation_id=reservation_id)

    def read_one(result: StatementResult) -> Reservation:
        found = read(result)
        if not found:
            raise NotFound("Reservation not found.")
        return found[0]

    return statement, read_one


def check_payable(*, reservation: Reservation, now: dt.datetime) -> None:
    """A reservation the caller has locked can be paid now: INVALID_STATE unless HELD, HOLD_EXPIRED
    once `expires_at` has passed (even if the sweep has not run yet), BOOKING_CLOSED once the show
    has started or staff closed the date's booking."""
    if reservation.effective_status(now) == ReservationStatus.EXPIRED:
        raise unpayable("expired")
    if reservation.status != ReservationStatus.HELD:
        raise unpayable("not_held", status=reservation.status)
    if not booking_open(reservation.concert_date_id):
        raise unpayable("closed")


def booking_open(concert_date_id: int) -> bool:
    """Whether a hold of the date can be paid now (its show has not started, staff have not closed it)."""
    facts = date_facts(concert_date_id)
    return facts is not None and facts.booking_open_now()


def unpayable(why: str, *, status: str = "") -> Conflict:
    """What `check_payable` raises: "expired" (HOLD_EXPIRED), "not_held" (INVALID_STATE, with the
    reservation's `status`), "closed" (BOOKING_CLOSED), "seats_not_held" (INVALID_STATE: its seats were
    no longer held when it was confirmed)."""
    match why:
        case "expired":
            return Conflict(ErrorCode.HOLD_EXPIRED, "The hold on these seats has expired; choose seats again.")
        case "not_held":
            return Conflict(ErrorCode.INVALID_STATE, f"This reservation is {status.lower()}, not held.")
        case "closed":
            return Conflict(
                ErrorCode.BOOKING_CLOSED, "Booking for this concert date has closed; the hold cannot be paid."
            )
        case "seats_not_held":
            return concert_services.seats_no_longer_held()
    raise ValueError(f"no refusal {why!r}")


# A payment's HELD -> CONFIRMED, compiled once (apps.common.db.PreparedUpdate).
_CONFIRM = PreparedUpdate(
    lambda *, reservation_id, now: (
        Reservation.objects.filter(pk=reservation_id),
        {"status": ReservationStatus.CONFIRMED, "reserved_at": now, "updated_at": now},
    )
)


def confirm_reservation(
    *, reservation: Reservation, now: dt.datetime
) -> tuple[list[Statement], Callable[[list[StatementResult]], None]]:
    """HELD → CONFIRMED and its seats RESERVED (caller holds the reservation lock, inside a payment),
    as statements for the caller's batch, and the function to call with their results (it raises
    INVALID_STATE if the seats were no longer held: the caller's transaction then rolls back)."""
    seat_ids = _seat_ids_of(reservation)
    seat_statements, seats_done = concert_services.reserve_seats_statements(
        concert_date_id=reservation.concert_date_id, seat_ids=seat_ids
    )
    confirm = _CONFIRM.statement(reservation_id=reservation.pk, now=now)

    def done(results: list[StatementResult]) -> None:
        seats_done(results[: len(seat_statements)])
        reservation.status, reservation.reserved_at = ReservationStatus.CONFIRMED, now

    return [*seat_statements, confirm], done
