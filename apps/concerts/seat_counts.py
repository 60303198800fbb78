"""How many seats of a concert date are free and how many are held, kept in Redis for the waiting
room: every status poll reads them in its one round trip (the queue's script reads the key, which
shares the date's hash tag `{<date_id>}` with the queue's keys, so one Redis Cluster slot holds both).

The key is a hash `{available, held}` counted as the seat rows' `status` column says (`AVAILABLE`,
`HELD`): a hold that has expired counts as held until the sweep releases it, every
HOLD_SWEEP_INTERVAL_SECONDS, so the line is told the date is sold out only once nobody can still pay
for a seat. It is kept up to date after every committed seat change by the deltas the change knows
(`seat_count_change`, right after the commit of the change; in a booking request, in its one
Redis round trip after commit), and rebuilt from the database when it is missing
(`read_or_rebuild`): it expires COUNTS_TTL_SECONDS after each rebuild, which bounds how long a lost
delta (Redis failing after a commit) can show. A change racing a rebuild loses nothing:
every delta counts itself in `changes_key`, and a rebuild stores what it read only if no delta was
applied since it noted that count before reading the database (a delta applied after the store
finds the key and applies to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Sum

from apps.common import lua
from apps.common.redis import get_redis, redis_key

from .models import Inventory, Seat, SeatStatus

COUNTS_TTL_SECONDS = 30


@dataclass(frozen=True, kw_only=True)
class SeatCounts:
    available: int  # AVAILABLE seats
    held: int  # HELD seats (an expired hold counts until it is swept)

    @property
    def sold_out(self) -> bool:
        """No free seat and no hold that could still come back."""
        return self.available <= 0 and self.held <= 0


def counts_key(concert_date_id: int) -> str:
    return redis_key("seatmap", f"{{{concert_date_id}}}", "counts")


def changes_key(concert_date_id: int) -> str:
    """How many seat changes were applied to the date's counts (a rebuild stores only if none was
    applied while it read the database)."""
    return redis_key("seatmap", f"{{{concert_date_id}}}", "counts-changes")


_APPLY = lua.load(__file__, "seat_counts_apply")
_STORE = lua.load(__file__, "seat_counts_store")


def _run(source: str, concert_date_id: int, *args: int) -> list | int:
    return lua.run(source, [counts_key(concert_date_id), changes_key(concert_date_id)], list(args))


def seat_count_change(*, concert_date_id: int, available: int, held: int) -> lua.Call:
    """The script that applies a committed seat change: free seats moved by `available`, held seats by
    `held`. Returned for its caller to run after commit (`apps.common.on_commit.script_on_commit`: in a
    booking request, in its one round trip)."""
    return lua.Call(_APPLY, [counts_key(concert_date_id), changes_key(concert_date_id)], [int(available), int(held)])


def forget_seat_counts(*, concert_date_id: int) -> None:
    """The date's seats changed in bulk (seeding, a recount): the next read rebuilds the counts."""
    get_redis().delete(counts_key(concert_date_id))


def count_seats(*, concert_date_id: int) -> SeatCounts:
    """The counts from the database: the inventory's `remaining` (the AVAILABLE seats, invariant 2)
    and the HELD seats through the (concert_date, status) index."""
    available = Inventory.objects.filter(concert_date_id=concert_date_id).aggregate(s=Sum("remaining"))["s"] or 0
    held = Seat.objects.filter(concert_date_id=concert_date_id, status=SeatStatus.HELD).count()
    return SeatCounts(available=available, held=held)


def counts_from_reply(reply: list | None) -> SeatCounts | None:
    """The counts an HMGET of the key answered, or None when the key is missing."""
    if not reply or reply[0] is None or reply[1] is None:
        return None
    return SeatCounts(available=int(reply[0]), held=int(reply[1]))


def ask_counts(client: Any, *, concert_date_id: int) -> Any:
    """The HMGET whose reply `read_or_rebuild` (`counts_from_reply`) reads, on `client`: a Redis client
    (the reply) or a pipeline (queued, for a caller's round trip)."""
    return client.hmget(counts_key(concert_date_id), "available", "held")


def read_counts(*, concert_date_id: int) -> SeatCounts:
    """The date's counts in a round trip of their own (rebuilt when missing): for the admission run,
    which must find the key in place for its script to read it."""
    reply = ask_counts(get_redis(), concert_date_id=concert_date_id)
    return read_or_rebuild(concert_date_id=concert_date_id, reply=reply)


def read_or_rebuild(*, concert_date_id: int, reply: list | None = None) -> SeatCounts:
    """The date's counts: from `reply` (an HMGET of `counts_key` made in the caller's round trip) when
    it found them, else rebuilt from the database and stored (a round trip of its own)."""
    counts = counts_from_reply(reply)
    if counts is not None:
        return counts
    noted = get_redis().get(changes_key(concert_date_id)) or "0"
    counts = count_seats(concert_date_id=concert_date_id)
    stored = _run(_STORE, concert_date_id, counts.available, counts.held, COUNTS_TTL_SECONDS, noted)
    return counts_from_reply(stored) or counts
