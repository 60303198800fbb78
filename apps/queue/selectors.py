"""Read-only views of the waiting rooms, for operators (commands, admin)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.common.redis import get_redis, redis_key

from .services import DATES_WITH_WAITERS, RATE_WINDOW_MS, QueueKeys, admission_rate_per_second, now_ms


@dataclass(frozen=True)
class QueueSummary:
    concert_date_id: int
    waiting: int
    active: int
    admitted_per_minute: float
    oldest_wait_seconds: int | None


def queue_summary(*, concert_date_id: int) -> QueueSummary:
    keys = QueueKeys(concert_date_id)
    now = now_ms()
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(keys.waiting)
    pipe.zcount(keys.active, now + 1, "+inf")
    pipe.zrange(keys.waiting, 0, 0)
    waiting, active, head = pipe.execute()
    oldest = None
    if head:
        # Arrival time is not the score (that is the arrival number): the first poll stamp is close.
        first_seen = redis.zscore(keys.seen, head[0])
        oldest = max(0, (now - int(first_seen)) // 1000) if first_seen is not None else None
    total = redis.zcount(keys.admissions, now - RATE_WINDOW_MS, "+inf")
    rate = admission_rate_per_second(concert_date_id=concert_date_id, now=now) if total else 0.0
    return QueueSummary(concert_date_id, waiting, active, round(rate * 60, 1), oldest)


def dates_with_queues() -> list[int]:
    return sorted(int(date_id) for date_id in get_redis().smembers(redis_key(DATES_WITH_WAITERS)))
