"""A hold's transaction as one call of the stored procedure `reservations_hold` (migration 0002) on
MariaDB: the user lock with the taken seats' preview, the seat lock in ascending id order, the buyer's
caps, the seats, the shards' version-checked updates, the seat-map outbox row, the reservation and
its items, in the order `services._create_hold` runs them from Python on SQLite. Called with no
transaction open, the procedure begins and ends its own, so a hold is one round trip; inside a
caller's transaction it runs in it (the caller's savepoint undoes a refusal).

`call` returns what the procedure answered: the held reservation's rows, or why it refused."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from apps.common.db import call_procedure
from apps.concerts.services import SeatsHeldOnServer

PROCEDURE = "reservations_hold"

HELD = "held"


@dataclass(frozen=True)
class HeldSeat:
    item_id: int
    seat_id: int
    seat_num: int
    section: str
    row: str
    price: Decimal


@dataclass(frozen=True)
class Answer:
    """`outcome`: "held" (`reservation_id`, `event_id`, `total_price`, `seats`) or a refusal: "no_user",
    "no_date", "taken" (the preview saw `taken`, no seat locked), "no_seat" (a seat not of the date),
    "hold_limit" (`live_holds`), "seat_limit" (`seats_of_date`), "taken_locked" (`taken`, of which
    `expired` are held by holds past their time), "busy" (a shard's version kept moving)."""

    outcome: str
    reservation_id: int | None = None
    event_id: int | None = None
    total_price: Decimal | None = None
    taken: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    live_holds: int = 0
    seats_of_date: int = 0
    seats: list[HeldSeat] = field(default_factory=list)


def usable() -> bool:
    """The procedure serves this connection's holds: MariaDB, and HOLD_PROCEDURE on."""
    return settings.HOLD_PROCEDURE and transaction.get_connection().vendor == "mysql"


def _ids(text: str | None) -> list[int]:
    return [int(part) for part in text.split(",")] if text else []


def call(
    *,
    user_id: int,
    concert_id: int,
    seats: SeatsHeldOnServer,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> Answer:
    """One CALL; its one result set read whole (and the call's own status after it)."""
    conn = transaction.get_connection()
    moment = conn.ops.adapt_datetimefield_value
    rows = call_procedure(
        PROCEDURE,
        (
            user_id,
            concert_id,
            seats.concert_date_id,
            json.dumps(seats.seat_ids),
            json.dumps(seats.shard_changes),
            moment(now),
            moment(expires_at),
            settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE,
            settings.MAX_SEATS_PER_BUYER_PER_DATE,
            seats.version_retries,
            seats.announcement.kind,
            seats.announcement.payload_text,
        ),
    )
    outcome, reservation_id, event_id, total, taken, expired, live_holds, seats_of_date = rows[0][:8]
    if outcome != HELD:
        return Answer(
            outcome=outcome,
            taken=_ids(taken),
            expired=_ids(expired),
            live_holds=live_holds or 0,
            seats_of_date=seats_of_date or 0,
        )
    return Answer(
        outcome=outcome,
        reservation_id=reservation_id,
        event_id=event_id,
        total_price=total,
        seats=[HeldSeat(*row[8:]) for row in rows],
    )
