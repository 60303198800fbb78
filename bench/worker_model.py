"""gunicorn's worker model behind nginx: sync workers against threaded ones, side by side in one run.

    .venv/bin/python bench/worker_model.py [--seconds 4] [--rounds 3] [--connections 16] [--buyers 2000]

A sync worker serves one request at a time and closes the connection after it, so nginx opens a new
upstream connection for every request; a gthread worker keeps nginx's upstream connections alive
(deploy/nginx: `keepalive 32`) and runs a few requests at once in threads of one process. Each model
is a gunicorn behind its own nginx (the production config, scripts/nginx.py), all on one scratch
database and Redis db; wrk drives, in rotated order each round, three rows per model:
- the bare framework floor (DRF + stateless JWT, no I/O);
- GET /api/queue/status for 64 buyers behind 10,000 waiting (the line's poll);
- POST /api/reservations of 2 disjoint seats, every request another buyer's (a hold: the booking
  path's Redis round trip, its transaction, its after-commit work).
Each row shows its median round and its ratio to the sync model's floor of the same round. The
default models: "sync 2" (the rush's crowd tier; the other HTTP benchmarks' server), "sync 5"
(gunicorn.conf.py's default on 2 cores, 2 * cores + 1, and the rush's booking tier), "gthread 2x4", and
"granian 2" (not gunicorn: Granian, a Rust HTTP server, running the same WSGI application in 2 processes
of one thread each, keeping nginx's connections alive; not in the default run). gevent is not offered: mysqlclient is C and blocks the whole
worker's hub on every statement (and on a row-lock wait), so a gevent worker would serve one booking
at a time while advertising many.
Scratch database `bench_workers`, Redis db --redis-db (default 9; flushed before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.holds import make_buyers, settle
from bench.http_server import HEADER, LoadResult, wrk
from bench.queue_line import fill_line, median_round, pollers_at_the_back
from bench.scratch import bench_date, scratch_django
from scripts.local_servers import granian, gunicorn
from scripts.nginx import nginx_proxy
from scripts.ports import free_port

LINE = 10_000
# name → (worker class, processes, threads per process); "granian" is not gunicorn but Granian's WSGI server
MODELS = {
    "sync 2": ("sync", 2, 1),
    "sync 5": ("sync", 5, 1),
    "gthread 2x4": ("gthread", 2, 4),
    "granian 2": ("granian", 2, 1),
}
ROWS = ("floor", "status", "hold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--buyers", type=int, default=2000, help="buyers (and 2-seat holds) per model and round")
    parser.add_argument(
        "--models", default="sync 2,sync 5,gthread 2x4", help=f"comma-separated, of: {', '.join(MODELS)}"
    )
    parser.add_argument("--redis-db", type=int, default=9)
    args = parser.parse_args()
    models = [name.strip() for name in args.models.split(",")]
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(MODELS)}")

    with scratch_django(
        "bench_workers", args.redis_db, ROOT_URLCONF="bench.floor_urls", NUM_PROXIES="1", QUEUE_MAX_ACTIVE="0",
        MAX_LIVE_HOLDS_PER_USER_PER_DATE="100000", MAX_SEATS_PER_BUYER_PER_DATE="100000", QUEUE_TOKEN_TTL_SECONDS="3600",
        THROTTLE_HOLD="100000000/min", THROTTLE_HOLD_IP="100000000/min",
    ) as env:  # fmt: skip
        from rest_framework_simplejwt.tokens import AccessToken

        from apps.concerts.models import Seat
        from apps.queue.services import issue_access_token

        line_date = bench_date(seats=10)
        fill_line(line_date.pk, LINE)  # placeholder waiters ahead of the pollers
        pollers = pollers_at_the_back(line_date)
        status_path = f"/api/queue/status?concert_id={line_date.concert_id}&concert_date_id={line_date.pk}"
        buyers = make_buyers(args.buyers)
        bearers = [f"Bearer {AccessToken.for_user(user)}" for user in buyers]

        rows: dict[str, list[LoadResult]] = defaultdict(list)
        ratios: dict[str, list[float]] = defaultdict(list)
        with ExitStack() as stack:
            bases = {}
            for name in models:
                worker_class, workers, threads = MODELS[name]
                upstream = stack.enter_context(
                    granian(env, workers=workers, threads=threads)
                    if worker_class == "granian"
                    else gunicorn(env, workers=workers, worker_class=worker_class, threads=threads)
                )
                bases[name] = stack.enter_context(
                    nginx_proxy(upstream=upstream.removeprefix("http://"), port=free_port())
                )
            print(f"\nwrk: {args.connections} connections, {args.seconds:g} s per row, {args.rounds} rounds (order "
                  f"rotated), median round shown; each model behind nginx (1 worker); line: {LINE:,} waiting\n")  # fmt: skip
            for round_ in range(args.rounds):
                # A fresh date each round, with a slice of seats per model: every hold is of free seats.
                date = bench_date(seats=2 * args.buyers * len(models), price="1")
                seats = list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
                holders = [
                    {"Authorization": bearer, "X-Queue-Token": issue_access_token(user_id=u.pk, concert_date_id=date.pk).token}
                    for u, bearer in zip(buyers, bearers, strict=True)
                ]  # fmt: skip
                plan = []
                for m, name in enumerate(models):
                    first = 2 * args.buyers * m
                    plan += [
                        (name, "floor", f"{name}: bare floor", [("GET", "/api/bench/floor/bare", h, None) for h in pollers]),
                        (name, "status", f"{name}: queue status", [("GET", status_path, h, None) for h in pollers]),
                        (name, "hold", f"{name}: hold 2 seats", [
                            ("POST", "/api/reservations", h,
                             {"concert_date_id": date.pk, "seat_ids": seats[first + 2 * i : first + 2 * i + 2]})
                            for i, h in enumerate(holders)]),
                    ]  # fmt: skip
                shift = (round_ * 3) % len(plan)
                results = {}
                for name, row, title, requests in plan[shift:] + plan[:shift]:
                    settle(bases[name], pollers[0])
                    result = wrk(title, bases[name], requests, seconds=args.seconds, connections=args.connections)
                    results[(name, row)] = result
                    rows[f"{name}/{row}"].append(result)
                    print(f"round {round_ + 1}: {result.row()}")
                floor = results[(models[0], "floor")].per_second
                for name in models:
                    for row in ROWS:
                        ratios[f"{name}/{row}"].append(results[(name, row)].per_second / floor if floor else 0.0)
                print()

        print(f"median round of each row; ratio = median of the per-round ratios to {models[0]}'s bare floor\n")
        print(f"{HEADER}  ÷ floor")
        print("-" * (len(HEADER) + 9))
        for name in models:
            for row in ROWS:
                key = f"{name}/{row}"
                print(f"{median_round(rows[key]).row()}  {statistics.median(ratios[key]):.2f}")
        failures = sum(n for results in rows.values() for r in results for code, n in r.statuses.items() if code >= 500)
        print(f"\n5xx answers in the run: {failures}")


if __name__ == "__main__":
    main()
