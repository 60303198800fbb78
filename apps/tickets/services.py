"""Issuing tickets for a confirmed reservation, voiding them when the booking ends, and checking
them in at the door."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.common.error_codes import ErrorCode
from apps.common.exceptions import ApplicationError, Conflict
from apps.queue.keys import iso_utc
from apps.reservations import selectors as reservation_selectors
from apps.reservations import services as reservations
from apps.reservations.models import ReservationStatus

from . import selectors
from .models import Ticket, TicketStatus
from .signing import MalformedCode, verify_code


class InvalidTicket(ApplicationError):
    code, status_code = ErrorCode.INVALID_TICKET, 400
    default_message = "This is not a valid ticket."


def issue_tickets(*, reservation_id: int) -> int:
    """Create one VALID ticket per seat of a CONFIRMED reservation, and return how many were new.

    Idempotent: the UNIQUE (reservation, seat) turns a second run into no rows, so the payment's
    effect may run twice and a buyer's page may ask at the same time. Locks the reservation first, as
    cancelling does, so a booking cancelled meanwhile gets no tickets (and one cancelled afterwards
    voids these). A reservation that is not (or no longer) confirmed is left alone."""
    return issue_tickets_for(reservation_ids=[reservation_id])


def issue_tickets_for(*, reservation_ids: Sequence[int]) -> int:
    """`issue_tickets` for several reservations in one transaction (the relay's batch of payments):
    they are locked together, in id order, and their tickets inserted in one statement."""
    with transaction.atomic():
        confirmed = [
            (reservation, seat_ids)
            for reservation, seat_ids in reservations.lock_reservations(reservation_ids=reservation_ids)
            if reservation.status == ReservationStatus.CONFIRMED
        ]
        if not confirmed:
            return 0
        ids = [reservation.pk for reservation, _ in confirmed]
        tickets = [
            Ticket(reservation_id=reservation.pk, concert_date_id=reservation.concert_date_id, seat_id=seat_id)
            for reservation, seat_ids in confirmed
            for seat_id in seat_ids
        ]
        existing = Ticket.objects.filter(reservation_id__in=ids).count()
        Ticket.objects.bulk_create(tickets, ignore_conflicts=True)
        return Ticket.objects.filter(reservation_id__in=ids).count() - existing


def tickets_of_reservation(*, user: Any, reservation_id: int) -> list[Ticket]:
    """The tickets of one of the user's confirmed reservations, by seat. If the payment's effect has
    not issued them yet, they are issued now (the same idempotent `issue_tickets`). Raises NOT_FOUND
    (also for another user's reservation) and INVALID_STATE (409) for one that is not confirmed."""
    reservation = reservation_selectors.get_reservation(user=user, reservation_id=reservation_id)
    status = reservation.effective_status()
    if status != ReservationStatus.CONFIRMED:
        raise Conflict(ErrorCode.INVALID_STATE, f"A {status.lower()} reservation has no tickets.")
    tickets = list(selectors.tickets_of(reservation_id=reservation.pk))
    if len(tickets) < len(reservation.items.all()):
        issue_tickets(reservation_id=reservation.pk)
        tickets = list(selectors.tickets_of(reservation_id=reservation.pk))
    return tickets


def void_tickets(*, reservation_id: int, now: dt.datetime) -> int:
    """VOID every ticket of a booking that is being cancelled or refunded (inside the caller's
    transaction, which holds the reservation's lock); returns how many changed. A checked-in ticket
    keeps its check-in time."""
    return (
        Ticket.objects.filter(reservation_id=reservation_id)
        .exclude(status=TicketStatus.VOID)
        .update(status=TicketStatus.VOID, voided_at=now, updated_at=now)
    )


def check_in(*, code: str, staff: Any) -> Ticket:
    """Let the holder of `code` in, once. The signature is verified first (with the public key, as
    an offline scanner does); then one conditional UPDATE … WHERE status = 'VALID' checks the ticket
    in, so of any number of doors scanning the same code at once exactly one succeeds: the others'
    UPDATE waits for the winner's row lock and then matches nothing.

    Two statements, in autocommit. Raises INVALID_TICKET (400: forged, altered, malformed, or naming
    no ticket of that date and seat), ALREADY_CHECKED_IN (409, `details.checked_in_at` is the first
    scan's time) and TICKET_VOID (409: the booking was cancelled or refunded)."""
    try:
        claim = verify_code(code)
    except MalformedCode as exc:
        raise InvalidTicket(f"This is not a valid ticket: {exc}.") from exc
    now = timezone.now()
    named = Ticket.objects.filter(pk=claim.ticket_id, concert_date_id=claim.concert_date_id, seat_id=claim.seat_id)
    entered = named.filter(status=TicketStatus.VALID).update(
        status=TicketStatus.CHECKED_IN, checked_in_at=now, checked_in_by=staff, updated_at=now
    )
    ticket = named.select_related("seat").first()
    if ticket is None:
        raise InvalidTicket("This code names no ticket.")
    if entered:
        return ticket
    if ticket.status == TicketStatus.VOID:
        raise Conflict(ErrorCode.TICKET_VOID, "This ticket's booking was cancelled or refunded.")
    raise Conflict(
        ErrorCode.ALREADY_CHECKED_IN,
        "This ticket has been checked in already.",
        details={"checked_in_at": iso_utc(ticket.checked_in_at)},
    )
