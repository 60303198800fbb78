"""The waiting-room endpoints through the real HTTP stack (gunicorn, 2 sync workers; wrk on loopback).

    .venv/bin/python bench/waiting_queue.py [--seconds 4] [--rounds 3] [--waiting 100000] [--sizes 1000,100000,1000000]

Side by side in one run, with --waiting users already in the line: a bare authenticated DRF endpoint
that does nothing (the floor: stateless JWT + the logout deny-list check), POST /api/queue for new
entrants, and GET /api/queue/status for users at the back of the line. Then status latency with the
line at each of --sizes, each size its own concert date loaded up front so that the sizes can be
measured in alternation. The rows run in rounds, interleaved, and each row reports its median round:
this machine is shared, and a background burst during one row would otherwise decide a ratio.
Scratch database `bench_queue`, Redis db --redis-db (default 9; only that db is flushed, before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, drop_database, gunicorn, scratch_env, setup_django, wrk

TOKENS = 4000


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis-db", type=int, default=9)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]

    env = scratch_env(
        "bench_queue", args.redis_db, ROOT_URLCONF="bench.floor_urls",
        THROTTLE_QUEUE_ENTER="100000000/min", THROTTLE_QUEUE_ENTER_IP="100000000/min",
        QUEUE_MAX_ACTIVE="0",  # nobody is admitted: every entrant waits, as in a sold-out rush
    )  # fmt: skip
    setup_django(env)
    import datetime as dt

    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.common.redis import get_redis
    from apps.concerts import services as catalogue
    from apps.queue.keys import QueueKeys
    from apps.queue.services import enter_queue

    redis = get_redis()
    redis.flushdb()
    venue = catalogue.create_venue(name="Q", layout=[{"name": "A", "rows": 1, "seats_per_row": 10, "price": "1"}])
    concert = catalogue.create_concert(venue=venue, name="Q", artist="Q")

    def new_date() -> int:
        return catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=3)).pk

    def fill_line(date_id: int, target: int) -> None:
        """Put placeholder waiters (ids above 10^8, never a real token) in the line up to `target`."""
        keys = QueueKeys(date_id)
        have = redis.zcard(keys.waiting)
        seq = int(redis.get(keys.seq) or 0)
        now = int(time.time() * 1000)
        pipe = redis.pipeline(transaction=False)
        for n in range(have, target):
            seq += 1
            uid = str(100_000_000 + n)
            pipe.zadd(keys.waiting, {uid: seq})
            pipe.zadd(keys.seen, {uid: now})
            pipe.hset(keys.arrived, uid, now)
            if len(pipe) >= 30_000:
                pipe.execute()
        pipe.set(keys.seq, seq)
        pipe.execute()

    def bearer(user_id: int) -> dict[str, str]:
        token = AccessToken()
        token["user_id"] = str(user_id)
        return {"Authorization": f"Bearer {token}"}

    # Stateless authentication never reads the user row, so the tokens need no users behind them.
    pollers = [bearer(50_000 + n) for n in range(64)]

    def status_requests(date_id: int) -> list:
        path = f"/api/queue/status?concert_id={concert.pk}&concert_date_id={date_id}"
        return [("GET", path, h, None) for h in pollers]

    main_date = new_date()
    size_dates = {size: new_date() for size in sizes}
    for date_id, size in [(main_date, args.waiting), *((d, s) for s, d in size_dates.items())]:
        fill_line(date_id, size)
        for n in range(len(pollers)):  # the pollers stand at the back of each line
            enter_queue(user_id=50_000 + n, concert_id=concert.pk, concert_date_id=date_id)
    target = {"concert_id": concert.pk, "concert_date_id": main_date}
    print(f"wrk: {args.connections} connections, {args.seconds:.0f} s per row, {args.rounds} interleaved rounds, "
          f"median round shown; gunicorn: 2 sync workers")  # fmt: skip
    print(f"line: {redis.zcard(QueueKeys(main_date).waiting):,} waiting; redis used_memory "
          f"{redis.info('memory')['used_memory_human']}\n")  # fmt: skip

    rows: dict[str, list[LoadResult]] = {}
    ratios: dict[str, list[float]] = {"enter": [], "status": []}
    entrant = 1_000
    try:
        with gunicorn(env) as base:
            for _ in range(args.rounds):
                # Fresh entrants every round, more than a round can serve: every request is a first entry.
                entrants = [bearer(entrant + n) for n in range(TOKENS)]
                entrant += TOKENS
                run = {
                    "floor": ("GET /api/bench/floor (DRF + JWT, no work)", [("GET", "/api/bench/floor", h, None) for h in pollers]),
                    "enter": ("POST /api/queue (new entrants)", [("POST", "/api/queue", h, target) for h in entrants]),
                    "status": ("GET /api/queue/status (back of the line)", status_requests(main_date)),
                }  # fmt: skip
                results = {}
                for key, (name, requests) in run.items():
                    results[key] = wrk(name, base, requests, seconds=args.seconds, connections=args.connections)
                    rows.setdefault(key, []).append(results[key])
                for key in ratios:
                    ratios[key].append(results[key].per_second / results["floor"].per_second)
                for size, date_id in size_dates.items():
                    result = wrk(f"status @ {size}", base, status_requests(date_id),
                                 seconds=args.seconds, connections=args.connections)  # fmt: skip
                    rows.setdefault(f"size:{size}", []).append(result)

            print(HEADER)
            print("-" * len(HEADER))
            for key in ("floor", "enter", "status"):
                print(median_round(rows[key]).row())
            print(
                f"\nenter/floor: {statistics.median(ratios['enter']):.2f}   "
                f"status/floor: {statistics.median(ratios['status']):.2f}   "
                f"(median of per-round ratios: enter {', '.join(f'{r:.2f}' for r in ratios['enter'])}; "
                f"status {', '.join(f'{r:.2f}' for r in ratios['status'])})\n"
            )
            print(f"{'status with the line at':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            for size in sizes:
                row = median_round(rows[f"size:{size}"])
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
