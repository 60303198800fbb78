"""What the outbox costs a hold, and how fast the relay drains it (MariaDB, Redis on loopback).

    .venv/bin/python bench/outbox_cost.py [--holds 300] [--rounds 3]

Rows, interleaved in rounds (this machine is shared: a background burst during one row would
otherwise decide a ratio), one thread, the hold service called directly (no HTTP):
- the floor: an empty transaction (`BEGIN; SELECT 1; COMMIT`), the least any hold can cost;
- a hold of 2 seats with its outbox row turned off (`outbox.emit` a no-op): the hold before the outbox;
- a hold of 2 seats as shipped: the same transaction plus one INSERT of its seat-map event;
- the relay: the round's seat-map events performed per second (one date: coalesced per batch).
Each row reports its median round and its ratio to the floor of the same round. Scratch database
`bench_outbox`, Redis db --redis-db (default 13; only that db is flushed, before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import bench_date, scratch_django


def per_second(count: int, action) -> float:
    started = time.perf_counter()
    for index in range(count):
        action(index)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holds", type=int, default=300, help="holds per row and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()
    with scratch_django("bench_outbox", args.redis_db, CELERY_TASK_ALWAYS_EAGER="True"):
        from django.db import connection, transaction

        from apps.accounts.models import User
        from apps.common import outbox
        from apps.common.models import OutboxEvent
        from apps.concerts import services as catalogue
        from apps.reservations import services as reservations

        date = bench_date(seats=args.holds * 4 * args.rounds + 10)
        seats = list(date.seats.order_by("pk").values_list("pk", flat=True))
        # A buyer per hold, as in a rush (one buyer's own holds would make each hold count more of them).
        buyers = iter(
            User.objects.bulk_create(
                User(email=f"outbox{n}@example.com", name=f"Buyer {n}", password="!")
                for n in range(args.holds * 2 * args.rounds)
            )
        )
        next_seat = iter(range(0, len(seats), 2))
        real_emit = catalogue.outbox.emit

        def empty_transaction(_: int) -> None:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT 1")

        def hold(_: int) -> None:
            first = next(next_seat)
            reservations.hold_seats(user=next(buyers), concert_date_id=date.pk, seat_ids=seats[first : first + 2])

        def hold_without_outbox(index: int) -> None:
            catalogue.outbox.emit = lambda *a, **k: None
            try:
                hold(index)
            finally:
                catalogue.outbox.emit = real_emit

        rows = {
            "floor": ("empty transaction (BEGIN; SELECT 1; COMMIT)", empty_transaction),
            "bare": ("hold, 2 seats, outbox row turned off", hold_without_outbox),
            "hold": ("hold, 2 seats, with its outbox row (as shipped)", hold),
        }
        results: dict[str, list[float]] = defaultdict(list)
        ratios: dict[str, list[float]] = defaultdict(list)
        relay_rates: list[float] = []
        for round_no in range(1, args.rounds + 1):
            for key, (label, action) in rows.items():
                results[key].append(per_second(args.holds, action))
                ratios[key].append(results[key][-1] / results["floor"][-1])
                print(f"round {round_no}: {label:<48} {results[key][-1]:8.0f}/s  {ratios[key][-1]:.2f} of the floor")
            pending = OutboxEvent.objects.filter(status="PENDING").count()
            started = time.perf_counter()
            done = outbox.relay().done
            relay_rates.append(done / (time.perf_counter() - started))
            print(f"round {round_no}: relay drained {done} of {pending} events, {relay_rates[-1]:.0f} events/s")

        print("\nmedian of rounds")
        for key, (label, _) in rows.items():
            print(
                f"  {label:<48} {statistics.median(results[key]):8.0f}/s  {statistics.median(ratios[key]):.2f} of the floor"
            )
        cost = 1 - statistics.median(r / b for r, b in zip(results["hold"], results["bare"], strict=True))
        print(f"  the outbox row costs a hold {cost:.0%} of its throughput (median of per-round ratios)")
        print(f"  relay: {statistics.median(relay_rates):.0f} seat-map events/s (coalesced per batch of 100)")


if __name__ == "__main__":
    main()
