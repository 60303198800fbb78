"""The date's status version, a counter in Redis bumped after every committed seat change, and its
change log (the seats each version changed), so a reader a few versions behind patches its copy.

The counter starts at the clock in microseconds, not at 1, so a counter lost to eviction or a Redis
restart never comes back at a number an old render is still stored under (and stays below 2**53,
exact in a browser's JSON). The counter and its log share the date's hash tag: one slot of a Redis
Cluster, one script."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class VersionRead:
    """The date's version as a caller read it in a round trip of its own (`queue_version_read`), and
    the change log's entries after `since` read beside it (`since`: the version of this process's
    copy then; None when it had none, and no log was read)."""

    version: int
    since: int | None = None
    entries: tuple[tuple[str, float], ...] = ()  # (entry, its version), as ZRANGEBYSCORE WITHSCORES answers


def queue_version_read(pipe: Pipeline, concert_date_id: int, *, since: int | None = None) -> None:
    """Queue the read of the date's status version (one GET) into a caller's pipeline, so that a
    request that makes a round trip anyway (the queue token's check) reads it there; with `since`
    (the version of this process's copy, `documents.status_copy_version`), the change log after it
    too, so that bringing the copy forward needs no round trip of its own. Pass the replies to
    `version_read`, and what it returns to `seat_status` or `seat_list`."""
    pipe.get(version_key(concert_date_id))
    if since is not None:
        pipe.zrangebyscore(
            changes_key(concert_date_id), f"({since}", "+inf", start=0, num=PATCH_MAX_VERSIONS + 1, withscores=True
        )


def version_read(concert_date_id: int, replies: Sequence[Any], *, since: int | None) -> VersionRead:
    """What `queue_version_read` (with the same `since`) read: its replies, in order."""
    version = version_from_reply(concert_date_id, replies[0])
    if since is None:
        return VersionRead(version)
    return VersionRead(version, since, tuple(replies[1]))


def version_from_reply(concert_date_id: int, reply: str | None) -> int:
    """The version a GET of the counter answered. A counter that is missing (never read, evicted,
    Redis restarted) starts here at the clock, in round trips of its own (once)."""
    if reply is None:
        redis = get_redis()
        redis.set(version_key(concert_date_id), _fresh_version(), nx=True)
        reply = redis.get(version_key(concert_date_id))
    return int(reply)


def changed_since(
    concert_date_id: int, since: int, version: int, *, read: VersionRead | None = None
) -> set[int] | None:
    """The seats changed by the versions after `since` up to `version`, or None when the log cannot
    say: a bump that named no seats, entries trimmed or lost, a counter that jumped (lost and
    restarted at the clock). From the log `read` beside the version when it was read after this
    `since` (no round trip), else read here."""
    if not 0 < version - since <= PATCH_MAX_VERSIONS:
        return None
    if read is not None and read.since == since and read.version == version:
        # A bump between the version's read and the log's is left out: the version names the copy. (The
        # score is the version; an entry's own text may write a large one in floating point.)
        entries: Sequence[str] = [entry for entry, score in read.entries if score <= version]
    else:
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
