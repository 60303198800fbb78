"""What a hold and a payment cost with their transactions as one call of a stored procedure
(HOLD_PROCEDURE and PAYMENT_PROCEDURE on: one round trip each) and as the same steps run from Python
(off: four and three round trips), in this process and in MariaDB.

    .venv/bin/python bench/booking_procedure_cost.py [--requests 400] [--rounds 5]

One Django WSGI handler with the settings' middlewares (the fast paths on, as shipped), on MariaDB and
Redis, one request at a time. In alternating blocks of --requests, the procedures on and then off:
admitted buyers (each block its own) hold 2 named seats each (`POST /api/reservations`, 201), pay for
them (`POST /api/payments`, 201), then the floor, `GET /api/health/live`. For each block, per request:
this process's CPU (time.process_time), MariaDB's CPU (the server process's user + system time, read
before and after), and the wall time (one request at a time, so its latency). The median block of
each, and the request's total CPU (this process's and MariaDB's) against the floor's. The answers are
checked (status code). Scratch database `bench_booking_procedure`, Redis db 9.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.holds import cpu_seconds
from bench.in_process import admitted_buyers, environ, hold_request, payment_request, serve
from bench.scratch import BOOKING_RATES_LIFTED, bench_date, scratch_django

MODES = ("procedure", "from Python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with scratch_django("bench_booking_procedure", 9, **BOOKING_RATES_LIFTED):
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler

        per_block = args.requests + 20  # the first 20 of a block warm it and are not measured
        buyers_needed = len(MODES) * args.rounds * per_block
        date = bench_date(seats=2 * buyers_needed)
        seats = iter(date.seats.order_by("pk").values_list("pk", flat=True))
        handler = WSGIHandler()
        buyer = admitted_buyers(date, buyers_needed, prefix="hold-procedure")

        def mariadb_cpu() -> float:
            return cpu_seconds()["MariaDB"]

        answers: list[bytes] = []

        def timed(requests: list[tuple[dict, str]]) -> tuple[float, float, float]:
            """µs a request: this process's CPU, MariaDB's CPU, wall time."""
            cpu, db, wall = time.process_time(), mariadb_cpu(), time.perf_counter()
            for env, expect in requests:
                answers.append(serve(handler, env, expect))
            n = len(requests)
            return tuple(
                1e6 * spent / n for spent in (time.process_time() - cpu, mariadb_cpu() - db, time.perf_counter() - wall)
            )

        blocks: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for _ in range(args.rounds):
            for mode in MODES:
                settings.HOLD_PROCEDURE = settings.PAYMENT_PROCEDURE = mode == "procedure"
                buyers = [next(buyer) for _ in range(per_block)]
                answers.clear()
                holds = [hold_request(date.pk, [next(seats), next(seats)], headers) for headers in buyers]
                timed(holds[:20])
                blocks.setdefault(("hold", mode), []).append(timed(holds[20:]))
                held = [json.loads(body)["id"] for body in answers]
                pays = [payment_request(rid, headers) for rid, headers in zip(held, buyers, strict=True)]
                timed(pays[:20])
                blocks.setdefault(("payment", mode), []).append(timed(pays[20:]))
                floor = [(environ("GET", "/api/health/live"), "200 OK")] * per_block
                timed(floor[:20])
                blocks.setdefault(("floor", mode), []).append(timed(floor[20:]))

    def median(key: tuple[str, str], part: int) -> float:
        return statistics.median(block[part] for block in blocks[key])

    floor = statistics.median(block[0] for mode in MODES for block in blocks[("floor", mode)])
    print(f"µs a request, median of {args.rounds} blocks of {args.requests}, one request at a time\n")
    print(f"{'request':32} {'Django CPU':>11} {'MariaDB CPU':>12} {'both':>8} {'wall':>8} {'÷ floor':>8}")
    for kind, label in (("hold", "POST /api/reservations (201)"), ("payment", "POST /api/payments (201)")):
        print(label)
        for mode in MODES:
            django, db, wall = (median((kind, mode), part) for part in range(3))
            print(f"  {mode:30} {django:11.0f} {db:12.0f} {django + db:8.0f} {wall:8.0f} {floor / (django + db):8.3f}")
    print(f"{'GET /api/health/live (floor)':32} {floor:11.0f}")


if __name__ == "__main__":
    main()
