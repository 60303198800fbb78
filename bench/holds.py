"""Seat holds through the real HTTP stack (gunicorn, 2 sync workers, MariaDB, Redis on loopback).

    .venv/bin/python bench/holds.py [--requests 3000] [--concurrency 16]

Side by side in one run: `GET /api/users/me` (DRF + JWT that loads the user row: the floor a hold
cannot beat), holds of 2 seats on disjoint seats (every request succeeds), and the hot seat (every
request wants the same seat: one 201, the rest 409). Prints requests/s and p50/p99 per row, then runs
check_invariants on the result. Scratch database `bench_holds`, Redis db 14.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, drop_database, gunicorn, scratch_env, setup_django, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8, help="wrk duration per row")
    parser.add_argument("--holds", type=int, default=6000, help="distinct 2-seat holds available to the disjoint row")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    env = scratch_env(
        "bench_holds", 14, MAX_LIVE_HOLDS_PER_USER_PER_DATE="100000", THROTTLE_HOLD="1000000/min",
        QUEUE_TOKEN_TTL_SECONDS="3600",
    )  # fmt: skip
    setup_django(env)
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone

    from apps.accounts.services import issue_tokens
    from apps.common.redis import get_redis
    from apps.concerts import services as catalogue
    from apps.concerts.models import Seat
    from apps.queue.services import issue_access_token
    from tests.factories import UserFactory

    get_redis().flushdb()
    pairs = args.holds
    rows = (2 * pairs + 99) // 100 + 1
    venue = catalogue.create_venue(
        name="Bench Arena", layout=[{"name": "A", "rows": rows, "seats_per_row": 100, "price": "100.00"}]
    )
    concert = catalogue.create_concert(venue=venue, name="Bench", artist="Bench")
    date = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=7))
    seat_ids = list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
    users = UserFactory.create_batch(args.connections * 4)
    headers = []
    for user in users:
        access = issue_tokens(user=user)["access"]
        token = issue_access_token(user_id=user.pk, concert_date_id=date.pk).token
        headers.append({"Authorization": f"Bearer {access}", "X-Queue-Token": token})
    hot_seat = seat_ids[-1]
    print(f"{len(seat_ids)} seats on one date, {len(users)} buyers, wrk with {args.connections} connections\n")
    print(HEADER)
    print("-" * len(HEADER))
    try:
        with gunicorn(env) as base:
            me = wrk(
                "GET /api/users/me (floor: JWT + user row)", base,
                [("GET", "/api/users/me", h, None) for h in headers],
                seconds=args.seconds, connections=args.connections,
            )  # fmt: skip
            print(me.row())
            disjoint = wrk(
                "POST /api/reservations, 2 disjoint seats", base,
                [("POST", "/api/reservations", headers[i % len(headers)],
                  {"concert_date_id": date.pk, "seat_ids": seat_ids[2 * i : 2 * i + 2]}) for i in range(pairs)],
                seconds=args.seconds, connections=args.connections,
            )  # fmt: skip
            print(disjoint.row())
            hot = wrk(
                "POST /api/reservations, one hot seat", base,
                [("POST", "/api/reservations", h, {"concert_date_id": date.pk, "seat_ids": [hot_seat]}) for h in headers],
                seconds=args.seconds, connections=args.connections,
            )  # fmt: skip
            print(hot.row())
        print(f"\nholds/floor throughput: {disjoint.per_second / me.per_second:.2f}")
        call_command("check_invariants")
    finally:
        from django.db import connections

        connections.close_all()
        get_redis().flushdb()
        drop_database(env)


if __name__ == "__main__":
    main()
