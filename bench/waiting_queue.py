"""The waiting-room endpoints through the real HTTP stack (gunicorn, 2 sync workers; wrk on loopback).

    .venv/bin/python bench/waiting_queue.py [--seconds 5] [--waiting 100000] [--sizes 1000,100000,1000000]

Side by side in one run, with --waiting users already in the line: a bare authenticated DRF endpoint
that does nothing (the floor: stateless JWT + the logout deny-list check), POST /api/queue for new
entrants, and GET /api/queue/status for users at the back of the line. Then status latency with the
line at each of --sizes. Scratch database `bench_queue`, Redis db --redis-db (default 9; only that db
is flushed, before and after).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, drop_database, gunicorn, scratch_env, setup_django, wrk

TOKENS = 4000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis-db", type=int, default=9)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]

    env = scratch_env(
        "bench_queue", args.redis_db, ROOT_URLCONF="bench.floor_urls", THROTTLE_QUEUE_ENTER="100000000/min", THROTTLE_QUEUE_ENTER_IP="100000000/min",
        QUEUE_MAX_ACTIVE="0",  # nobody is admitted: every entrant waits, as in a sold-out rush
    )  # fmt: skip
    setup_django(env)
    import datetime as dt

    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.common.redis import get_redis
    from apps.concerts import services as catalogue
    from apps.queue.services import QueueKeys, enter_queue

    redis = get_redis()
    redis.flushdb()
    venue = catalogue.create_venue(name="Q", layout=[{"name": "A", "rows": 1, "seats_per_row": 10, "price": "1"}])
    concert = catalogue.create_concert(venue=venue, name="Q", artist="Q")
    date = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=3))
    keys = QueueKeys(date.pk)

    def fill_line(target: int) -> None:
        """Put placeholder waiters (ids above 10^8, never a real token) in the line up to `target`."""
        have = redis.zcard(keys.waiting)
        seq = redis.get(keys.seq)
        seq = int(seq) if seq else 0
        now = int(time.time() * 1000)
        pipe = redis.pipeline(transaction=False)
        for n in range(have, target):
            seq += 1
            pipe.zadd(keys.waiting, {str(100_000_000 + n): seq})
            pipe.zadd(keys.seen, {str(100_000_000 + n): now})
            if len(pipe) >= 20_000:
                pipe.execute()
        pipe.set(keys.seq, seq)
        pipe.execute()

    def bearer(user_id: int) -> dict[str, str]:
        token = AccessToken()
        token["user_id"] = str(user_id)
        return {"Authorization": f"Bearer {token}"}

    # Stateless authentication never reads the user row, so the tokens need no users behind them.
    entrants = [bearer(1_000 + n) for n in range(TOKENS)]
    pollers = [bearer(50_000 + n) for n in range(64)]
    target = {"concert_id": concert.pk, "concert_date_id": date.pk}
    status_path = f"/api/queue/status?concert_id={concert.pk}&concert_date_id={date.pk}"
    print(f"wrk: {args.connections} connections, {args.seconds:.0f} s per row; gunicorn: 2 sync workers\n")
    try:
        with gunicorn(env) as base:
            fill_line(args.waiting)
            for n in range(len(pollers)):  # the pollers stand at the back of the line
                enter_queue(user_id=50_000 + n, concert_id=concert.pk, concert_date_id=date.pk)
            print(f"line: {redis.zcard(keys.waiting)} waiting\n")
            print(HEADER)
            print("-" * len(HEADER))
            floor = wrk("GET /api/bench/floor (DRF + JWT, no work)", base,
                        [("GET", "/api/bench/floor", h, None) for h in pollers],
                        seconds=args.seconds, connections=args.connections)  # fmt: skip
            print(floor.row())
            enter = wrk("POST /api/queue (new entrants)", base,
                        [("POST", "/api/queue", h, target) for h in entrants],
                        seconds=args.seconds, connections=args.connections)  # fmt: skip
            print(enter.row())
            status = wrk("GET /api/queue/status (back of the line)", base,
                         [("GET", status_path, h, None) for h in pollers],
                         seconds=args.seconds, connections=args.connections)  # fmt: skip
            print(status.row())
            print(f"\nenter/floor: {enter.per_second / floor.per_second:.2f}   "
                  f"status/floor: {status.per_second / floor.per_second:.2f}\n")  # fmt: skip

            print(f"{'status with the line at':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            for size in sizes:
                if redis.zcard(keys.waiting) < size:
                    fill_line(size)
                elif redis.zcard(keys.waiting) > size:
                    redis.zremrangebyrank(keys.waiting, 0, redis.zcard(keys.waiting) - size - 1)
                row = wrk(f"status @ {size}", base, [("GET", status_path, h, None) for h in pollers],
                          seconds=args.seconds, connections=args.connections)  # fmt: skip
                print(
                    f"{size:>10,} waiting{'':<10} {row.per_second:>8.0f} {row.p50:>8.1f} {row.percentile(0.99):>8.1f}"
                )
    finally:
        from django.db import connections

        connections.close_all()
        redis.flushdb()
        drop_database(env)


if __name__ == "__main__":
    main()
