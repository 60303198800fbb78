"""Direct to gunicorn vs through nginx (deploy/nginx, Debian's nginx), side by side in one run.

    .venv/bin/python bench/proxy_cost.py [--seconds 4] [--rounds 5] [--connections 16]

One gunicorn (2 sync workers) and nginx in front of it (scripts/nginx.py), on one scratch database and
Redis db. wrk drives, in rotated order each round: the bare framework floor (DRF + JWT, no work) and
GET /api/queue/status for 64 users behind 10,000 others, each direct and through nginx; every row is
its median round. nginx costs a hop per request but buffers slow clients, so that a sync worker is
never held by one: on loopback wrk is no slow client, so this shows the hop's price, not its benefit.
Figures on this shared 2-core machine swing run to run; read the ratios within one run.
Scratch database `bench_proxy`, Redis db --redis-db (default 8; flushed before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, rotated_rounds
from bench.queue_line import fill_line, median_round, pollers_at_the_back
from bench.scratch import bench_date, scratch_django
from scripts.local_servers import gunicorn
from scripts.nginx import nginx_proxy
from scripts.ports import free_port

LINE = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis-db", type=int, default=8)
    args = parser.parse_args()

    with scratch_django("bench_proxy", args.redis_db, ROOT_URLCONF="bench.floor_urls", QUEUE_MAX_ACTIVE="0") as env:
        date = bench_date(seats=10)
        fill_line(date.pk, LINE)  # placeholder waiters ahead of the pollers
        pollers = pollers_at_the_back(date)
        status_path = f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}"
        status = [("GET", status_path, h, None) for h in pollers]
        floor = [("GET", "/api/bench/floor/bare", h, None) for h in pollers]

        rows: dict[str, list[LoadResult]] = {}
        ratios: dict[str, list[float]] = {"floor": [], "status": []}
        with gunicorn(env) as direct, nginx_proxy(upstream=direct.removeprefix("http://"), port=free_port()) as proxied:
            plan = [
                ("floor direct", "floor, direct", direct, floor),
                ("floor nginx", "floor, through nginx", proxied, floor),
                ("status direct", "queue status, direct", direct, status),
                ("status nginx", "queue status, through nginx", proxied, status),
            ]
            for results in rotated_rounds(plan, rounds=args.rounds, seconds=args.seconds, connections=args.connections):
                for key, result in results.items():
                    rows.setdefault(key, []).append(result)
                for kind in ratios:
                    if results[f"{kind} direct"].per_second:
                        ratios[kind].append(results[f"{kind} nginx"].per_second / results[f"{kind} direct"].per_second)

        print(f"\nwrk: {args.connections} connections, {args.seconds:.0f} s per row, {args.rounds} rounds (order "
              f"rotated), median round shown; gunicorn: 2 sync workers; nginx: 1 worker; line: {LINE:,} waiting\n")  # fmt: skip
        print(HEADER)
        print("-" * len(HEADER))
        for key, *_ in plan:
            print(median_round(rows[key]).row())
        floor_rate = median_round(rows["floor direct"]).per_second
        print(
            "\n÷ direct floor: "
            + ", ".join(f"{key} {median_round(rows[key]).per_second / floor_rate:.2f}" for key, *_ in plan)
        )
        for kind, values in ratios.items():
            print(f"{kind}: through nginx ÷ direct, median of per-round ratios {statistics.median(values or [0]):.2f} "
                  f"(rounds: {', '.join(f'{v:.2f}' for v in values)})")  # fmt: skip


if __name__ == "__main__":
    main()
