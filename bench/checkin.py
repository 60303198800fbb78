"""The door's hot path: `POST /api/checkin` through the real HTTP stack (gunicorn, 2 sync workers,
MariaDB, Redis on loopback), with the bare framework floor measured in the same run.

    .venv/bin/python bench/checkin.py [--seconds 5] [--rounds 3] [--tickets 30000] [--redis-db 13]

At the start of a show 50,000 people come through the doors in about 45 minutes: ~20 scans a second
on average, in bursts. Rows, interleaved in rounds (the machine is shared: a background burst during
one row would otherwise decide a ratio):
- the bare floor: DRF + simplejwt's `JWTStatelessUserAuthentication`, no Redis, no database;
- first scans: each request a ticket never scanned (200): verify the Ed25519 signature, one
  conditional UPDATE, one read of the ticket and its seat;
- second scans: tickets already in (409 ALREADY_CHECKED_IN): the same statements, no row changes;
- forged codes (400 INVALID_TICKET): the signature check alone, no ticket statement.
Each row reports its median round and its ratio to the bare floor of the same round. Scratch database
`bench_checkin`, Redis db --redis-db (only that db is flushed, before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.holds import settle
from bench.http_server import HEADER, LoadResult, wrk
from bench.scratch import bench_date, scratch_django
from scripts.local_servers import gunicorn

ROWS = {
    "bare": "bare floor (DRF + stateless JWT, no I/O)",
    "first": "POST /api/checkin, first scans (200)",
    "again": "POST /api/checkin, second scans (409)",
    "forged": "POST /api/checkin, forged codes (400)",
}


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]


def issue_bench_tickets(*, date, count: int) -> list[str]:
    """`count` confirmed 4-seat bookings' worth of tickets on `date`, bulk-inserted (issuing them one
    payment at a time is not what is measured here); returns their codes in ticket order."""
    from decimal import Decimal

    from django.utils import timezone

    from apps.accounts.models import User
    from apps.reservations.models import Reservation, ReservationItem
    from apps.tickets.models import Ticket
    from apps.tickets.selectors import code_of

    buyer = User.objects.create_user(email="door-bench@example.com", password="bench-password-1")
    seats = list(date.seats.order_by("pk").values_list("pk", flat=True)[:count])
    now = timezone.now()
    Reservation.objects.bulk_create(
        Reservation(user=buyer, concert_id=date.concert_id, concert_date=date, status="CONFIRMED",
                    total_price=Decimal("40.00"), expires_at=now, reserved_at=now)
        for _ in range(0, len(seats), 4)
    )  # fmt: skip
    bookings = list(Reservation.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
    ReservationItem.objects.bulk_create(
        ReservationItem(reservation_id=bookings[i // 4], seat_id=seat, price=Decimal("10.00"))
        for i, seat in enumerate(seats)
    )
    Ticket.objects.bulk_create(
        (Ticket(reservation_id=bookings[i // 4], concert_date=date, seat_id=seat) for i, seat in enumerate(seats)),
        batch_size=2000,
    )
    return [code_of(t) for t in Ticket.objects.filter(concert_date=date).order_by("pk")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5, help="wrk duration per row")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tickets", type=int, default=30000, help="tickets issued (first scans use them up)")
    parser.add_argument("--connections", type=int, default=8, help="doors scanning at once")
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()

    with scratch_django("bench_checkin", args.redis_db, ROOT_URLCONF="bench.floor_urls") as env:
        from rest_framework_simplejwt.tokens import AccessToken

        from apps.accounts.models import User
        from apps.tickets import signing

        date = bench_date(seats=args.tickets)
        codes = issue_bench_tickets(date=date, count=args.tickets)
        staff = User.objects.create_user(email="door@example.com", password="bench-password-1", role="STAFF")
        door = {"Authorization": f"Bearer {AccessToken.for_user(staff)}"}
        forger = signing.Ed25519PrivateKey.generate()
        forged = []
        for code in codes[:500]:
            payload = signing.b64url_decode(code.split(".")[0])
            forged.append(f"{code.split('.')[0]}.{signing.b64url_encode(forger.sign(payload))}")
        unused = iter(codes)
        print(f"{len(codes)} tickets on one date; wrk with {args.connections} connections, {args.seconds:g} s per row, "
              f"{args.rounds} rounds\n")  # fmt: skip

        results: dict[str, list[LoadResult]] = defaultdict(list)
        ratios: dict[str, list[float]] = defaultdict(list)
        scanned: list[str] = []
        with gunicorn(env) as base:
            for round_ in range(args.rounds):
                # Enough never-scanned codes that the row does not run out (wrk loops over its list).
                fresh = [next(unused, None) for _ in range(len(codes) // args.rounds)]
                fresh = [code for code in fresh if code]
                plan = {
                    "bare": [("GET", "/api/bench/floor/bare", door, None)],
                    "first": [("POST", "/api/checkin", door, {"code": code}) for code in fresh],
                    "again": None,
                    "forged": [("POST", "/api/checkin", door, {"code": code}) for code in forged],
                }
                for key in ROWS:
                    requests = plan[key]
                    if key == "again":
                        requests = [("POST", "/api/checkin", door, {"code": code}) for code in scanned[:2000]]
                    settle(base, door)  # workers up, and nothing the last row queued billed to this one
                    result = wrk(ROWS[key], base, requests, seconds=args.seconds, connections=args.connections)
                    results[key].append(result)
                    if key == "first":
                        scanned = fresh[: result.statuses.get(200, 0)]
                    print(f"round {round_ + 1}: {result.row()}")
                bare = results["bare"][-1].per_second
                for key in ("first", "again", "forged"):
                    ratios[key].append(results[key][-1].per_second / bare)
                print()

        print("median round of each row, ratio = median of the per-round ratios to the bare floor\n")
        print(f"{HEADER}  ÷ bare floor")
        print("-" * (len(HEADER) + 14))
        print(f"{median_round(results['bare']).row()}  1.00")
        for key in ("first", "again", "forged"):
            print(f"{median_round(results[key]).row()}  {statistics.median(ratios[key]):.2f}")
        first = median_round(results["first"])
        print(f"\nfirst scans: {first.per_second:.0f}/s on 2 workers against a door's ~20/s; "
              f"p99 {first.percentile(0.99):.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
