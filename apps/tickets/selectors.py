from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.common.exceptions import NotFound

from .models import Ticket, TicketStatus
from .signing import sign_code


def tickets_of(*, reservation_id: int) -> QuerySet[Ticket]:
    """A reservation's tickets with their seats, in seat order (one query)."""
    return Ticket.objects.filter(reservation_id=reservation_id).select_related("seat").order_by("seat__seat_num")


def get_own_ticket(*, user: Any, ticket_id: int) -> Ticket:
    """One of the user's tickets; another user's id is NOT_FOUND, like an unknown one."""
    ticket = Ticket.objects.filter(pk=ticket_id, reservation__user_id=user.pk).first()
    if ticket is None:
        raise NotFound("Ticket not found.")
    return ticket


def code_of(ticket: Ticket) -> str:
    return sign_code(ticket_id=ticket.pk, concert_date_id=ticket.concert_date_id, seat_id=ticket.seat_id)


@dataclass(frozen=True)
class SectionDoorCount:
    section: str
    sold: int  # tickets that admit someone: VALID or CHECKED_IN
    entered: int  # CHECKED_IN
    void: int


def door_counts(*, concert_date_id: int) -> list[SectionDoorCount]:
    """Per section of a date: tickets sold (not void), entered, and void (one grouped query)."""
    rows = (
        Ticket.objects.filter(concert_date_id=concert_date_id)
        .values("seat__section")
        .annotate(
            sold=Count("id", filter=~Q(status=TicketStatus.VOID)),
            entered=Count("id", filter=Q(status=TicketStatus.CHECKED_IN)),
            void=Count("id", filter=Q(status=TicketStatus.VOID)),
        )
        .order_by("seat__section")
    )
    return [SectionDoorCount(r["seat__section"], r["sold"], r["entered"], r["void"]) for r in rows]


def door_export(*, concert_date_id: int) -> Iterator[dict[str, Any]]:
    """Every ticket of a date with its code, seat and status, in ticket order: a void ticket's code
    still verifies, so a scanner with no network needs its status to refuse it. Read in chunks, so an
    arena's 50,000 tickets never sit in memory as models."""
    tickets = Ticket.objects.filter(concert_date_id=concert_date_id).select_related("seat").order_by("id")
    for ticket in tickets.iterator(chunk_size=2000):
        yield {
            "ticket_id": ticket.pk,
            "seat": {"id": ticket.seat_id, "section": ticket.seat.section, "row": ticket.seat.row,
                     "seat_num": ticket.seat.seat_num},
            "code": code_of(ticket),
            "status": ticket.status,
        }  # fmt: skip
