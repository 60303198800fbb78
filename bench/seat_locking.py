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
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "ticketing.settings.base"
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "mysql://root:@127.0.0.1:3306/bench_locking")
os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("DEBUG", "True")
os.environ["LOG_LEVEL"] = "ERROR"

import MySQLdb  # noqa: E402

db_name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
admin = MySQLdb.connect(host="127.0.0.1", user="root", passwd="")
admin.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
admin.cursor().execute(f"CREATE DATABASE `{db_name}` CHARACTER SET utf8mb4")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import OperationalError, connection, connections, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.common.exceptions import ApplicationError  # noqa: E402
from apps.common.redis import get_redis  # noqa: E402
from apps.concerts import services as catalogue  # noqa: E402
from apps.concerts.models import Inventory, Seat, SeatStatus  # noqa: E402


class SeatTaken(Exception):
    pass


def pessimistic(date_id: int, ids: list[int]) -> None:
    """The shipped default: SELECT … FOR UPDATE in id order, check, update, versioned inventory."""
    with transaction.atomic():
        try:
            catalogue.mark_seats_held(concert_date_id=date_id, seat_ids=ids, held_until=timezone.now())
        except ApplicationError as exc:
            if exc.code == "SEAT_UNAVAILABLE":
                raise SeatTaken() from None
            raise


def optimistic(date_id: int, ids: list[int]) -> None:
    """Read versions without a lock, then UPDATE … WHERE version = read version; a miss is a conflict."""
    with transaction.atomic():
        seats = list(Seat.objects.filter(pk__in=ids).values_list("pk", "status", "version"))
        if any(status != SeatStatus.AVAILABLE for _, status, _ in seats):
            raise SeatTaken()
        for pk, _, version in sorted(seats):
            if not Seat.objects.filter(pk=pk, version=version).update(status=SeatStatus.HELD, version=F("version") + 1):
                transaction.set_rollback(True)
                raise SeatTaken()
        catalogue._change_remaining(concert_date_id=date_id, delta=-len(ids))


def conditional_update(date_id: int, ids: list[int]) -> None:
    """One UPDATE … WHERE status='AVAILABLE'; fewer rows than seats means one was taken: roll back."""
    with transaction.atomic():
        changed = Seat.objects.filter(pk__in=ids, status=SeatStatus.AVAILABLE).update(
            status=SeatStatus.HELD, version=F("version") + 1
        )
        if changed != len(ids):
            transaction.set_rollback(True)
            raise SeatTaken()
        catalogue._change_remaining(concert_date_id=date_id, delta=-len(ids))


def redis_lock(date_id: int, ids: list[int]) -> None:
    """A Redis SET NX lock per seat around an unlocked read-check-write in the database."""
    redis = get_redis()
    keys = [f"bench:seatlock:{pk}" for pk in sorted(ids)]
    taken = []
    try:
        for key in keys:
            if not redis.set(key, "1", nx=True, px=5000):
                raise SeatTaken()
            taken.append(key)
        with transaction.atomic():
            if Seat.objects.filter(pk__in=ids, status=SeatStatus.AVAILABLE).count() != len(ids):
                raise SeatTaken()
            Seat.objects.filter(pk__in=ids).update(status=SeatStatus.HELD, version=F("version") + 1)
            catalogue._change_remaining(concert_date_id=date_id, delta=-len(ids))
    finally:
        if taken:
            redis.delete(*taken)


STRATEGIES: dict[str, Callable[[int, list[int]], None]] = {
    "pessimistic (select_for_update)": pessimistic,
    "optimistic (version column)": optimistic,
    "conditional UPDATE": conditional_update,
    "redis lock": redis_lock,
}


def reset(date_id: int) -> None:
    Seat.objects.filter(concert_date_id=date_id).update(status=SeatStatus.AVAILABLE, version=0)
    total = Seat.objects.filter(concert_date_id=date_id).count()
    Inventory.objects.filter(concert_date_id=date_id).update(remaining=total, version=0)


def run(strategy: Callable, date_id: int, seat_ids: list[int], *, threads: int, seconds: float, hot: bool) -> dict:
    stats = {"ok": 0, "conflict": 0, "error": 0, "latencies": []}
    lock = threading.Lock()
    next_pair = iter(range(0, len(seat_ids) - 1, 2))
    hot_pair = seat_ids[:2]
    deadline = time.perf_counter() + seconds
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        while time.perf_counter() < deadline:
            if hot:
                ids = hot_pair
            else:
                with lock:
                    start = next(next_pair, None)
                if start is None:
                    break
                ids = seat_ids[start : start + 2]
            began = time.perf_counter()
            try:
                strategy(date_id, ids)
                outcome = "ok"
            except SeatTaken:
                outcome = "conflict"
            except (OperationalError, ApplicationError):
                outcome = "error"
            elapsed = time.perf_counter() - began
            with lock:
                stats[outcome] += 1
                stats["latencies"].append(elapsed)
                if hot and outcome == "ok":  # put the hot seats back so the race goes on
                    Seat.objects.filter(pk__in=hot_pair).update(status=SeatStatus.AVAILABLE)
                    Inventory.objects.filter(concert_date_id=date_id).update(remaining=F("remaining") + 2)
        connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - began
    latencies = sorted(stats["latencies"]) or [0.0]
    remaining = Inventory.objects.get(concert_date_id=date_id).remaining
    available = Seat.objects.filter(concert_date_id=date_id, status=SeatStatus.AVAILABLE).count()
    return {
        "ok": stats["ok"],
        "conflict": stats["conflict"],
        "error": stats["error"],
        "per_s": (stats["ok"] + stats["conflict"]) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1 if len(latencies) > 1 else 0] * 1000,
        "consistent": remaining == available,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--seats", type=int, default=4000)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    get_redis().flushdb()
    rows = max(1, args.seats // 100)
    venue = catalogue.create_venue(
        name="Bench", layout=[{"name": "A", "rows": rows, "seats_per_row": 100, "price": "10"}]
    )
    concert = catalogue.create_concert(venue=venue, name="Bench", artist="Bench")
    date = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + timezone.timedelta(days=1))
    seat_ids = list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
    print(f"MariaDB {connection.mysql_server_info}; {args.threads} threads; {args.seconds:.0f} s per cell; "
          f"{len(seat_ids)} seats; 2 seats per hold\n")  # fmt: skip
    header = f"{'scenario':<10} {'strategy':<32} {'ok':>7} {'conflict':>9} {'errors':>7} {'att/s':>8} {'p50 ms':>8} {'p99 ms':>8}  inventory"
    print(header)
    print("-" * len(header))
    try:
        for hot in (False, True):
            for name, strategy in STRATEGIES.items():
                reset(date.pk)
                get_redis().flushdb()
                result = run(strategy, date.pk, seat_ids, threads=args.threads, seconds=args.seconds, hot=hot)
                print(
                    f"{'hot seat' if hot else 'disjoint':<10} {name:<32} {result['ok']:>7} {result['conflict']:>9} "
                    f"{result['error']:>7} {result['per_s']:>8.0f} {result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f}  "
                    f"{'exact' if result['consistent'] else 'DRIFTED'}"
                )
    finally:
        connections.close_all()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        get_redis().flushdb()


if __name__ == "__main__":
    main()
