"""The date's status version, a counter in Redis bumped after every committed seat change, and its
change log (the seats each version changed), so a reader a few versions behind patches its copy.

The counter starts at the clock in microseconds, not at 1, so a counter lost to eviction or a Redis
restart never comes back at a number an old render is still stored under (and stays below 2**53,
exact in a browser's JSON). The counter and its log share the date's hash tag: one slot of a Redis
Cluster, one script."""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.client import Pipeline

from apps.common import lua
from apps.common.redis import get_redis, redis_key

CHANGES_KEPT = 256  # versions whose changed seats the log remembers
CHANGES_TTL_SECONDS = 3600  # a log nobody bumped for this long goes (a reader then reads every seat)
PATCH_MAX_VERSIONS = 64  # further behind than this, reading every seat again is as cheap

_BUMP = lua.load(__file__, "bump_version")


def version_key(concert_date_id: int) -> str:
    return redis_key("seatmap", f"{{{concert_date_id}}}", "status-version")


def changes_key(concert_date_id: int) -> str:
    return redis_key("seatmap", f"{{{concert_date_id}}}", "changes")


def _fresh_version() -> int:
    return time.time_ns() // 1000


def invalidate_seat_map(*, concert_date_id: int, seat_ids: Iterable[int] | None = None) -> None:
    """Seats of the date changed (these, or any when None): the next read renders the status (and the
    seat list) again, patching only the named seats when it can. One round trip."""
    seat_map_bump(concert_date_id=concert_date_id, seat_ids=seat_ids).run()


def seat_map_bump(*, concert_date_id: int, seat_ids: Iterable[int] | None = None) -> lua.Call:
    """`invalidate_seat_map` as a script call its caller runs (the outbox's fast path sends it in a
    booking request's one round trip after commit)."""
    changed = ",".join(map(str, sorted(set(seat_ids)))) if seat_ids else "*"
    return lua.Call(
        _BUMP,
        [version_key(concert_date_id), changes_key(concert_date_id)],
        [_fresh_version(), changed, CHANGES_KEPT, CHANGES_TTL_SECONDS],
    )


def current_version(concert_date_id: int) -> int:
    """The date's status version: one GET on the plain Redis client (the hot path of every read)."""
    return version_from_reply(concert_date_id, get_redis().get(version_key(concert_date_id)))


def queue_version_read(pipe: Pipeline, concert_date_id: int) -> None:
    """Queue the read of the date's status version (one GET) into a caller's pipeline, so that a
    request that makes a round trip anyway (the queue token's check) reads it there; pass the reply
    to `version_from_reply`, and the version to `seat_status` or `seat_list`."""
    pipe.get(version_key(concert_date_id))


def version_from_reply(concert_date_id: int, reply: str | None) -> int:
    """The version a GET of the counter answered. A counter that is missing (never read, evicted,
    Redis restarted) starts here at the clock, in round trips of its own (once)."""
    if reply is None:
        redis = get_redis()
        redis.set(version_key(concert_date_id), _fresh_version(), nx=True)
        reply = redis.get(version_key(concert_date_id))
    return int(reply)


def changed_since(concert_date_id: int, since: int, version: int) -> set[int] | None:
    """The seats changed by the versions after `since` up to `version`, or None when the log cannot
    say: a bump that named no seats, entries trimmed or lost, a counter that jumped (lost and
    restarted at the clock)."""
    if not 0 < version - since <= PATCH_MAX_VERSIONS:
        return None
    entries = get_redis().zrangebyscore(changes_key(concert_date_id), f"({since}", version)
    if len(entries) != version - since:
        return None
    changed: set[int] = set()
    for entry in entries:
        seat_ids = entry.partition(":")[2]
        if seat_ids == "*":
            return None
        changed.update(map(int, seat_ids.split(",")))
    return changed
