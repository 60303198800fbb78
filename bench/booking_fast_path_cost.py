"""What a hold and a payment cost with and without their fast paths (apps/common/fast_path.py), beside
the bare floor, in this process.

    .venv/bin/python bench/booking_fast_path_cost.py [--requests 200] [--rounds 5]

One Django WSGI handler with the settings' middlewares, on MariaDB and Redis. In alternating blocks of
--requests, with the fast paths on and then off (HOLD_FAST_PATH, PAYMENT_FAST_PATH): admitted buyers
(each block its own) hold 2 named seats each (`POST /api/reservations`, 201), then pay for them
(`POST /api/payments`, 201), then the floor, `GET /api/health/live` (DRF with no work, no token). Each
block's CPU time (time.process_time: this process's, so time waiting on MariaDB or Redis is left out)
per request, the median block of each, and each route's ratio to the floor. The answers are checked
(status code), so a block that fell through to an error is not counted as cheap. Scratch database
`bench_booking_fast_path`, Redis db 9.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.in_process import Blocks, admitted_buyers, environ, hold_request, payment_request, report, serve
from bench.scratch import BOOKING_RATES_LIFTED, bench_date, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with scratch_django("bench_booking_fast_path", 9, **BOOKING_RATES_LIFTED):
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler

        per_block = args.requests + 20  # the first 20 of a block warm it and are not measured
        buyers_needed = 2 * args.rounds * per_block
        date = bench_date(seats=2 * buyers_needed)
        seats = iter(date.seats.order_by("pk").values_list("pk", flat=True))
        handler = WSGIHandler()
        buyer = admitted_buyers(date, buyers_needed, prefix="booking-fast")
        answers: list[bytes] = []

        def timed(requests: list[tuple[dict, str]]) -> float:
            began = time.process_time()
            for env, expect in requests:
                answers.append(serve(handler, env, expect))
            return 1e6 * (time.process_time() - began) / len(requests)

        blocks: Blocks = {}
        for _ in range(args.rounds):
            for mode in ("fast path", "full stack"):
                settings.HOLD_FAST_PATH = settings.PAYMENT_FAST_PATH = mode == "fast path"
                buyers = [next(buyer) for _ in range(per_block)]
                holds = [hold_request(date.pk, [next(seats), next(seats)], headers) for headers in buyers]
                answers.clear()
                timed(holds[:20])
                blocks.setdefault(("hold", mode), []).append(timed(holds[20:]))
                held = [json.loads(body)["id"] for body in answers]
                pays = [payment_request(rid, headers) for rid, headers in zip(held, buyers, strict=True)]
                timed(pays[:20])
                blocks.setdefault(("payment", mode), []).append(timed(pays[20:]))
                floor = [(environ("GET", "/api/health/live"), "200 OK")] * per_block
                timed(floor[:20])
                blocks.setdefault(("floor", mode), []).append(timed(floor[20:]))
        report(
            blocks,
            [("hold", "POST /api/reservations (201)"), ("payment", "POST /api/payments (201)")],
            rounds=args.rounds,
            requests=args.requests,
        )


if __name__ == "__main__":
    main()
