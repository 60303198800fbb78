"""A long waiting line for the queue benchmarks: placeholder waiters and pollers at its back.

date = bench_date(seats=10)
fill_line(date.pk, 10_000)                  # placeholder waiters (never a real token) ahead
pollers = pollers_at_the_back(date, 64)     # Authorization headers of 64 buyers behind them
"""

from __future__ import annotations

import time
from typing import Any

from bench.http_server import LoadResult

POLLERS = 64


def bearer(user_id: int) -> dict[str, str]:
    """A signed access token for `user_id` with a verified e-mail, as a buyer's (queue entry requires
    it where REQUIRE_VERIFIED_EMAIL is on): stateless authentication never reads the user row."""
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.tokens import EMAIL_VERIFIED_CLAIM

    token = AccessToken()
    token["user_id"] = str(user_id)
    token[EMAIL_VERIFIED_CLAIM] = True
    return {"Authorization": f"Bearer {token}"}


def fill_line(date_id: int, target: int, *, heartbeats: bool = True) -> None:
    """Put placeholder waiters (ids above 10^8) in the date's line up to `target`, in commands of 5,000
    (each one short: the Redis server may be shared); with `heartbeats`, seen and arrived just now, as
    waiters who poll (a million-long line leaves them out to keep Redis small)."""
    from apps.common.redis import get_redis
    from apps.queue.keys import QueueKeys

    redis, keys = get_redis(), QueueKeys(date_id)
    first, seq = redis.zcard(keys.waiting), int(redis.get(keys.seq) or 0)
    now = int(time.time() * 1000)
    for start in range(first, target, 5000):
        uids = [str(100_000_000 + n) for n in range(start, min(start + 5000, target))]
        redis.zadd(keys.waiting, {uid: seq + 1 + n for n, uid in enumerate(uids, start - first)})
        if heartbeats:
            redis.zadd(keys.seen, dict.fromkeys(uids, now))
            redis.hset(keys.arrived, mapping=dict.fromkeys(uids, now))
    redis.set(keys.seq, seq + max(0, target - first))


def pollers_at_the_back(date: Any, count: int = POLLERS, first_user_id: int = 50_000) -> list[dict[str, str]]:
    """`count` buyers entered at the back of the date's line; their Authorization headers."""
    from apps.queue.services import enter_queue

    for n in range(count):
        enter_queue(user_id=first_user_id + n, concert_id=date.concert_id, concert_date_id=date.pk)
    return [bearer(first_user_id + n) for n in range(count)]


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]
