"""The seat map's SQL: the rows each document is built from."""

from __future__ import annotations

from django.db.models.functions import Substr

from apps.common.db import PreparedSelect, run_batch

from ..models import ConcertDate, Seat, SeatStatus
from . import clock
from .status import Status, make_status


def layout_rows(concert_date_id: int) -> list[tuple]:
    """One statement (so the seats and the layout_version come from one snapshot), in seat order:
    (pk, seat_num, section, row, price, layout_version) per seat."""
    return list(
        Seat.objects.filter(concert_date_id=concert_date_id)
        .order_by("seat_num")
        .values_list("pk", "seat_num", "section", "row", "price", "concert_date__layout_version")
    )


def seat_rows(concert_date_id: int, seat_ids: set[int]) -> list[tuple]:
    """(seat_num, status, held_until) of the named seats of the date, by primary key. Every hold and
    payment changes a few seats and every process brings its copy up to date with them: compiled once
    per number of seats (`PreparedSelect`)."""
    statement, read = _SEAT_ROWS.statement(concert_date_id=concert_date_id, seat_ids=sorted(seat_ids))
    return [(seat.seat_num, seat.status, seat.held_until) for seat in read(run_batch([statement])[0])]


_SEAT_ROWS = PreparedSelect(
    lambda *, concert_date_id, seat_ids: Seat.objects.filter(pk__in=seat_ids, concert_date_id=concert_date_id),
    fields=("id", "seat_num", "status", "held_until"),
)


def build_status(concert_date_id: int, version: int) -> Status:
    """Every seat's status letter in seat order, one character a row and no per-row objects (a third
    of the cost of reading the rows whole), then the held seats' ends through the (concert_date,
    status) index. A seat's position is its seat_num - 1: a date's seats are numbered 1..N in layout
    order when the date is made and never renumbered. A seat that changed between the two
    statements keeps its letter: its change bumps the version, and the next read renders again."""
    built_at = clock.now()
    layout_version = ConcertDate.objects.filter(pk=concert_date_id).values_list("layout_version", flat=True).first()
    seats = Seat.objects.filter(concert_date_id=concert_date_id)
    letters = seats.order_by("seat_num").annotate(code=Substr("status", 1, 1)).values_list("code", flat=True)
    codes = bytearray("".join(letters), "ascii")
    holds = []
    for seat_num, held_until in seats.filter(status=SeatStatus.HELD).values_list("seat_num", "held_until"):
        position = seat_num - 1
        if held_until is None or not 0 <= position < len(codes) or codes[position] != ord("H"):
            continue
        ends = held_until.timestamp()
        if ends <= built_at:
            codes[position] = ord("A")  # ended, not yet swept
        else:
            holds.append((ends, position))
    holds.sort()
    return make_status(
        concert_date_id=concert_date_id,
        layout_version=layout_version or 1,
        version=version,
        codes=codes.decode("ascii"),
        holds=tuple(holds),
        built_at=built_at,
    )
