"""The seat-locking strategies bench/seat_locking.py compares, and the timed run of one of them.
Imported once Django is set up on the scratch database."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

from django.db import OperationalError, connections, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.common.exceptions import ApplicationError
from apps.common.redis import get_redis
from apps.concerts import services as catalogue
from apps.concerts.models import Inventory, Seat, SeatStatus


class SeatTaken(Exception):
    pass


def floor(date_id: int, ids: list[int]) -> None:
    """The bare cost of a transaction from a thread (BEGIN; SELECT 1; COMMIT), no seat touched."""
    with transaction.atomic(), connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


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
        catalogue._change_remaining(concert_date_id=date_id, deltas=catalogue.shard_deltas(ids, per_seat=-1))


def conditional_update(date_id: int, ids: list[int]) -> None:
    """One UPDATE … WHERE status='AVAILABLE'; fewer rows than seats means one was taken: roll back."""
    with transaction.atomic():
        changed = Seat.objects.filter(pk__in=ids, status=SeatStatus.AVAILABLE).update(
            status=SeatStatus.HELD, version=F("version") + 1
        )
        if changed != len(ids):
            transaction.set_rollback(True)
            raise SeatTaken()
        catalogue._change_remaining(concert_date_id=date_id, deltas=catalogue.shard_deltas(ids, per_seat=-1))


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
            catalogue._change_remaining(concert_date_id=date_id, deltas=catalogue.shard_deltas(ids, per_seat=-1))
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
    for shard, count in catalogue.shard_deltas(
        Seat.objects.filter(concert_date_id=date_id).values_list("pk", flat=True), per_seat=1
    ).items():
        Inventory.objects.filter(concert_date_id=date_id, shard=shard).update(remaining=count, version=0)


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
                    for shard, back in catalogue.shard_deltas(hot_pair, per_seat=1).items():
                        Inventory.objects.filter(concert_date_id=date_id, shard=shard).update(
                            remaining=F("remaining") + back
                        )
        connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall = time.perf_counter() - began
    latencies = sorted(stats["latencies"]) or [0.0]
    remaining = Inventory.objects.filter(concert_date_id=date_id).aggregate(n=Sum("remaining"))["n"]
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
