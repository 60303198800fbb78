"""Compare seat-locking strategies for a hold on the same data, in one run, on MariaDB.

    .venv/bin/python bench/seat_locking.py [--threads 16] [--seconds 5] [--seats 2000]

Each strategy flips 2 seats AVAILABLE → HELD and takes them off the date's inventory, all or nothing,
from many threads at once, in two scenarios: disjoint seats (every buyer wants different seats) and a
hot seat (every buyer wants the same 2 seats, reset as soon as someone wins). Prints successes,
conflicts (seat taken), errors, throughput and p50/p99 latency per strategy and scenario.

Uses a scratch database `bench_locking` on 127.0.0.1 (created and dropped) and Redis db 15.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import bench_date, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--seats", type=int, default=4000)
    args = parser.parse_args()

    with scratch_django("bench_locking", 15, LOG_LEVEL="ERROR"):
        from django.db import connection

        from apps.common.redis import get_redis
        from bench.locking_strategies import STRATEGIES, floor, reset, run

        date = bench_date(seats=args.seats, starts_in_days=1)
        seat_ids = list(date.seats.order_by("pk").values_list("pk", flat=True))
        print(
            f"MariaDB {connection.mysql_server_info}; {args.threads} threads; {args.seconds:.0f} s per cell; "
            f"{len(seat_ids)} seats; 2 seats per hold. Figures swing with the machine's load: compare each"
        )
        print("row with the floor (an empty transaction, BEGIN; SELECT 1; COMMIT) measured in this same run.\n")  # fmt: skip
        header = (
            f"{'scenario':<10} {'strategy':<32} {'ok':>7} {'conflict':>9} {'errors':>7} {'att/s':>8} {'of floor':>8} "
            f"{'p50 ms':>8} {'p99 ms':>8}  inventory"
        )
        print(header)
        print("-" * len(header))
        floor_rate = run(floor, date.pk, seat_ids, threads=args.threads, seconds=args.seconds, hot=False)["per_s"]
        print(f"{'-':<10} {'floor (empty transaction)':<32} {'':>7} {'':>9} {'':>7} {floor_rate:>8.0f} {'1.00':>8}")
        for hot in (False, True):
            for name, strategy in STRATEGIES.items():
                reset(date.pk)
                get_redis().flushdb()
                result = run(strategy, date.pk, seat_ids, threads=args.threads, seconds=args.seconds, hot=hot)
                print(
                    f"{'hot seat' if hot else 'disjoint':<10} {name:<32} {result['ok']:>7} {result['conflict']:>9} "
                    f"{result['error']:>7} {result['per_s']:>8.0f} {result['per_s'] / floor_rate:>8.2f} "
                    f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f}  {'exact' if result['consistent'] else 'DRIFTED'}"
                )


if __name__ == "__main__":
    main()
