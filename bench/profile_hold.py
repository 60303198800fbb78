"""Where the time of a seat hold and of a payment goes: pyinstrument over N holds, then over the N
payments of those holds, through the full Django stack (test client: middleware, DRF, JWT, queue-token
check, the transaction) on MariaDB. Each buyer holds and pays once (a payment ends the buyer's access).

    .venv/bin/python bench/profile_hold.py [--holds 400] [--only hold|payment] [--best-available] [--hot]
                                           [--cpu]

`--best-available` holds 2 seats chosen by the server (`quantity`) instead of 2 named seats; `--hot`
asks every time for the same seat (the first buyer holds it, the rest are refused: the hot seat's
409, with no payments). `--cpu` profiles this process's CPU time with cProfile instead
(`time.process_time`: time waiting on MariaDB or Redis is left out), and prints the functions that
spent it, by their own time and by their total.

Scratch database `bench_profile`, Redis db 10.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import BOOKING_RATES_LIFTED, bench_date, scratch_django

UNLIMITED = {
    "MAX_LIVE_HOLDS_PER_USER_PER_DATE": "1000000",
    "MAX_SEATS_PER_BUYER_PER_DATE": "1000000",
    **BOOKING_RATES_LIFTED,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holds", type=int, default=400)
    parser.add_argument("--only", choices=("hold", "payment"), help="print one profile (both by default)")
    parser.add_argument("--best-available", action="store_true", help="holds of 2 seats the server chooses")
    parser.add_argument(
        "--hot", action="store_true", help="every buyer asks for the same seat: one hold, the rest refused"
    )
    parser.add_argument("--cpu", action="store_true", help="cProfile over CPU time instead of pyinstrument")
    parser.add_argument("--dump", metavar="PATH", help="with --cpu: also write the profile (pstats) to PATH.<step>")
    args = parser.parse_args()
    with scratch_django("bench_profile", 10, **UNLIMITED):
        from pyinstrument import Profiler

        from tests.factories import UserFactory
        from tests.helpers import admitted_client

        date = bench_date(seats=args.holds * (4 if args.best_available else 2))
        seats = list(date.seats.order_by("pk").values_list("pk", flat=True))
        clients = [admitted_client(date, UserFactory(balance=Decimal("1000000.00"))) for _ in range(args.holds)]
        for client in clients:
            client.defaults["SERVER_NAME"] = "127.0.0.1"  # an allowed host of the scratch settings
            # Each test client builds its middleware chain on its first request: build it before the
            # profile, as a web worker has long before it serves a hold.
            client.get("/api/health/live")
        holds = []

        def hold(i: int, client: Any) -> None:
            if args.hot:
                picked = {"seat_ids": seats[-1:]}
            else:
                picked = {"quantity": 2} if args.best_available else {"seat_ids": seats[2 * i : 2 * i + 2]}
            response = client.post("/api/reservations", {"concert_date_id": date.pk, **picked}, format="json")
            assert response.status_code == (409 if args.hot and i else 201), response.content
            if response.status_code == 201:
                holds.append(response.json()["id"])

        def pay(i: int, client: Any) -> None:
            response = client.post("/api/payments", {"reservation_id": holds[i]}, format="json")
            assert response.status_code == 201, response.content

        for name, step in (("hold", hold),) if args.hot else (("hold", hold), ("payment", pay)):
            if args.cpu:
                cpu_profile(
                    name,
                    step,
                    clients,
                    print_it=args.only in (None, name),
                    dump=f"{args.dump}.{name}" if args.dump else None,
                )
                continue
            profiler = Profiler(interval=0.0005)
            profiler.start()
            for i, client in enumerate(clients):
                step(i, client)
            profiler.stop()
            if args.only in (None, name):
                print(f"=== {args.holds} x {name}: {profiler.last_session.duration / args.holds * 1000:.1f} ms each")
                print(profiler.output_text(unicode=False, color=False, show_all=False, time="percent_of_total"))


def cpu_profile(name: str, step: Any, clients: list, *, print_it: bool, dump: str | None = None) -> None:
    """`step` over every client under cProfile with the process's CPU clock; the top functions by
    their own time and by their total time (callees included)."""
    import cProfile
    import io
    import pstats
    import time

    profile = cProfile.Profile(time.process_time)
    began = time.process_time()
    profile.enable()
    for i, client in enumerate(clients):
        step(i, client)
    profile.disable()
    spent = time.process_time() - began
    if dump:
        profile.dump_stats(dump)
    if not print_it:
        return
    print(f"=== {len(clients)} x {name}: {spent / len(clients) * 1000:.2f} ms of CPU each (under cProfile)")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(35)
        print(out.getvalue())


if __name__ == "__main__":
    main()
