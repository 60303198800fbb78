"""Read-only views of the waiting rooms, for operators (commands, admin)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.common.redis import get_redis

from .keys import QueueKeys, dates_with_waiters_key, now_ms


@dataclass(frozen=True, kw_only=True)
class QueueSummary:
    concert_date_id: int
    waiting: int
    active: int
    admitted_per_minute: int  # admitted from the line in the last 60 s
    oldest_wait_seconds: int | None  # how long the head of the line has waited


def queue_summary(*, concert_date_id: int) -> QueueSummary:
    keys = QueueKeys(concert_date_id)
    now = now_ms()
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(keys.waiting)
    pipe.zcount(keys.active, now + 1, "+inf")
    pipe.zrange(keys.waiting, 0, 0)
    pipe.zrangebyscore(keys.admissions, now - 60_000, "+inf")
    waiting, active, head, runs = pipe.execute()
    oldest = None
    if head:
        arrived = redis.hget(keys.arrived, head[0])
        oldest = max(0, (now - int(arrived)) // 1000) if arrived is not None else None
    # Each member is "<ms>:<admitted>:<run id>" (see scripts.ADMIT).
    admitted = sum(int(run.split(":")[1]) for run in runs)
    return QueueSummary(
        concert_date_id=concert_date_id,
        waiting=waiting,
        active=active,
        admitted_per_minute=admitted,
        oldest_wait_seconds=oldest,
    )


def dates_with_queues() -> list[int]:
    return sorted(int(date_id) for date_id in get_redis().smembers(dates_with_waiters_key()))
