"""What the request ids and Prometheus metrics cost on the hottest endpoint, the queue status poll.

    .venv/bin/python bench/observability_cost.py [--seconds 4] [--rounds 5]

Two gunicorn servers (2 sync workers each) on one scratch database and Redis db: one with production
settings and PROMETHEUS_MULTIPROC_DIR (the metrics of every worker in memory-mapped files, as deployed),
one with the request-id and metrics middlewares removed (bench/settings_without_observability.py).
wrk drives GET /api/queue/status for 64 users at the back of a 10,000-long line on each in turn, with
the bare framework floor (DRF + JWT, no work) measured in the same rounds; the order rotates each round
and the median round is shown. Figures on this shared 2-core machine swing by 10 % or more between
runs: read the ratios of one run, not absolute numbers across runs.
Scratch database `bench_observability`, Redis db --redis-db (default 8; flushed before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, gunicorn, wrk
from bench.scratch import scratch_django

LINE = 10_000
POLLERS = 64


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis-db", type=int, default=8)
    args = parser.parse_args()

    with scratch_django(
        "bench_observability", args.redis_db, ROOT_URLCONF="bench.floor_urls", QUEUE_MAX_ACTIVE="0"
    ) as env:
        from rest_framework_simplejwt.tokens import AccessToken

        from apps.common.redis import get_redis
        from apps.queue.keys import QueueKeys
        from apps.queue.services import enter_queue
        from bench.scratch import bench_date

        redis = get_redis()
        date = bench_date(seats=10)
        keys = QueueKeys(date.pk)
        now = int(time.time() * 1000)
        pipe = redis.pipeline(transaction=False)
        for n in range(LINE):  # placeholder waiters ahead of the pollers
            uid = str(100_000_000 + n)
            pipe.zadd(keys.waiting, {uid: n + 1})
            pipe.zadd(keys.seen, {uid: now})
            pipe.hset(keys.arrived, uid, now)
        pipe.set(keys.seq, LINE)
        pipe.execute()

        def bearer(user_id: int) -> dict[str, str]:
            token = AccessToken()
            token["user_id"] = str(user_id)
            return {"Authorization": f"Bearer {token}"}

        pollers = [bearer(50_000 + n) for n in range(POLLERS)]
        for n in range(POLLERS):
            enter_queue(user_id=50_000 + n, concert_id=date.concert_id, concert_date_id=date.pk)
        status = [
            ("GET", f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}", h, None)
            for h in pollers
        ]
        floor = [("GET", "/api/bench/floor/bare", h, None) for h in pollers]

        with tempfile.TemporaryDirectory(prefix="prometheus-") as metrics_dir:
            with_env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
            without_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings_without_observability"}
            rows: dict[str, list[LoadResult]] = {"floor": [], "without": [], "with": []}
            ratios: list[float] = []
            with gunicorn(with_env) as with_base, gunicorn(without_env) as without_base:
                plan = [
                    ("floor", "GET /api/bench/floor/bare (floor)", with_base, floor),
                    ("without", "status, no ids/metrics", without_base, status),
                    ("with", "status, ids + metrics", with_base, status),
                ]
                for round_ in range(args.rounds):
                    shift = round_ % len(plan)
                    results = {}
                    for key, name, base, requests in plan[shift:] + plan[:shift]:
                        results[key] = wrk(name, base, requests, seconds=args.seconds, connections=args.connections)
                        rows[key].append(results[key])
                    if results["without"].per_second:
                        ratios.append(results["with"].per_second / results["without"].per_second)
            scraped = len(list(Path(metrics_dir).glob("*.db")))

        print(f"wrk: {args.connections} connections, {args.seconds:.0f} s per row, {args.rounds} rounds (order rotated), "
              f"median round shown; gunicorn: 2 sync workers each; line: {LINE:,} waiting\n")  # fmt: skip
        print(HEADER)
        print("-" * len(HEADER))
        for key in ("floor", "without", "with"):
            print(median_round(rows[key]).row())
        floor_rate = median_round(rows["floor"]).per_second
        print(
            f"\nstatus/floor without: {median_round(rows['without']).per_second / floor_rate:.2f}   "
            f"with: {median_round(rows['with']).per_second / floor_rate:.2f}\n"
            f"with/without, median of per-round ratios: {statistics.median(ratios or [0]):.3f} "
            f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}); cost {100 * (1 - statistics.median(ratios)):.1f} %\n"
            f"({scraped} metric files written by the instrumented server's processes)"
        )


if __name__ == "__main__":
    main()
