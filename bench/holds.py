"""Seat holds and payments through the real HTTP stack (gunicorn, 2 sync workers unless --workers says
otherwise, MariaDB, Redis on loopback), with the bare framework floor measured in the same run.

    .venv/bin/python bench/holds.py [--seconds 6] [--rounds 2] [--buyers 4000] [--hot-buyers 500]
                                    [--keyed-payments] [--workers 2] [--max-requests 0] [--database-core]

Rows, interleaved in rounds (this machine is shared: a background burst during one row would
otherwise decide a ratio), each round on a fresh concert date:
- the bare floor: DRF + simplejwt's `JWTStatelessUserAuthentication`, no Redis, no database;
- `GET /api/users/me` (DRF + JWT that loads the user row);
- the hold-shaped floor: the bare floor's authentication and a hold's transaction shape alone (lock a
  seat, update it, a version-checked shard update, commit: bench/floor_urls.py), each request on
  another seat: the ceiling of a hold on this machine, before anything a hold does besides; and the
  same transaction in three round trips, as lean as the service's hold writes its own;
- the hold procedure's floor: the bare floor's authentication and a real hold's whole transaction, one
  call of the service's hold procedure (bench/floor_urls.py), 2 disjoint seats of a date of its own per
  request, every request by another buyer: the ceiling of a hold whose database work is the design's;
- holds of 2 disjoint seats, every request by another buyer (every request succeeds while the
  seats last);
- payments of those holds, each by its own buyer (pay after hold, disjoint buyers), with
  `--keyed-payments` each with its own Idempotency-Key;
- the hot seat: --hot-buyers connections, each a different buyer, all wanting one seat (exactly
  one 201 per round, the rest 409).
Each row reports its median round and its ratio to the bare floor of the same round, and where the
machine's CPU went for each of its requests (the median round's): gunicorn (Django and the WSGI server),
MariaDB, Redis and wrk (the load generator), from the processes' CPU times before and after the row.
`--database-core` gives MariaDB the last core to itself and the rest of the run the others (a database
server of its own, on one machine). The run ends with check_invariants. Scratch database `bench_holds`, Redis db --redis-db (default 14; only that db
is flushed, before and after).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, wrk
from bench.scratch import BOOKING_RATES_LIFTED, drop_database, scratch_env, setup_django
from scripts.local_servers import gunicorn

ROWS = ("shaped", "lean", "proc", "me", "hold", "pay", "hot")  # the rows beside the bare floor, in the order printed


CPU_GROUPS = ("gunicorn", "MariaDB", "Redis", "wrk")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by the processes of each of CPU_GROUPS: gunicorn by its
    command line (its live processes and the workers its master reaped), MariaDB and Redis by their
    process names (the machine's servers), wrk as the children this process has waited for (each row's
    wrk has exited)."""
    import psutil

    used = dict.fromkeys(CPU_GROUPS, 0.0)
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times, name = process.info["cpu_times"], process.info["name"] or ""
        if times is None:
            continue
        if "gunicorn" in " ".join(process.info["cmdline"] or ()):
            # A worker that exits (gunicorn recycles them) is counted by the master that reaped it.
            used["gunicorn"] += times.user + times.system + times.children_user + times.children_system
        elif name in ("mariadbd", "mysqld"):
            used["MariaDB"] += times.user + times.system
        elif name == "redis-server":
            used["Redis"] += times.user + times.system
    own = psutil.Process().cpu_times()
    used["wrk"] = own.children_user + own.children_system
    return used


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]


def make_buyers(count: int) -> list:
    """`count` funded buyers, bulk-inserted (one password hash for all: hashing is not measured here),
    each with a CHARGE ledger entry equal to the balance, so invariant 3 holds."""
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password

    from apps.accounts.models import LedgerKind, User, WalletTransaction

    password = make_password("bench-password-1")
    balance = Decimal("1000000.00")
    users = User.objects.bulk_create(
        User(email=f"bench{n}@example.com", name=f"Buyer {n}", password=password, balance=balance) for n in range(count)
    )
    if not users or users[0].pk is None:  # MariaDB returns no ids from a bulk insert
        users = list(User.objects.filter(email__startswith="bench").order_by("pk"))
    WalletTransaction.objects.bulk_create(
        WalletTransaction(user=u, kind=LedgerKind.CHARGE, amount=balance, balance_after=balance, reference="bench")
        for u in users
    )
    return users


def top_up_holds(buyers: list, seats: list[int], concert_date_id: int, *, target: int) -> int:
    """Hold seats 2i and 2i+1 for each buyer i who holds nothing on the date yet (the seats the hold row
    would have given that buyer), in this process, until `target` buyers hold seats; the count made."""
    from apps.concerts.services import SeatsTaken
    from apps.reservations.models import Reservation
    from apps.reservations.services import hold_seats

    holding = set(Reservation.objects.filter(concert_date_id=concert_date_id).values_list("user_id", flat=True))
    made = 0
    for i, user in enumerate(buyers):
        if len(holding) + made >= target:
            break
        if user.pk in holding:
            continue
        try:
            hold_seats(user=user, concert_date_id=concert_date_id, seat_ids=seats[2 * i : 2 * i + 2])
            made += 1
        except SeatsTaken:  # the hold row's request for them was still being answered when the row ended
            pass
    return made


def settle(base: str, headers: dict[str, str], *, limit_seconds: float = 180) -> None:
    """Wait until the server answers the bare floor promptly again: the requests a row left queued
    in the listen backlog (500 hot-seat connections on 2 sync workers) must not be billed to the next."""
    import urllib.request

    deadline = time.monotonic() + limit_seconds
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        began = time.monotonic()
        request = urllib.request.Request(f"{base}/api/bench/floor/bare", headers=headers)
        with urllib.request.urlopen(request, timeout=limit_seconds) as response:
            response.read()
        quick = quick + 1 if time.monotonic() - began < 0.2 else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6, help="wrk duration per row")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--buyers", type=int, default=4000, help="buyers (and 2-seat holds) per round")
    parser.add_argument("--hot-buyers", type=int, default=500, help="concurrent buyers of the one hot seat")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn sync workers (gunicorn.conf.py ships 2 x cores + 1)"
    )
    parser.add_argument("--keyed-payments", action="store_true",
                        help="each payment carries an Idempotency-Key, as a buyer's page sends it")  # fmt: skip
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument(
        "--max-requests",
        type=int,
        default=0,
        help="requests before gunicorn restarts a worker (0: never; gunicorn.conf.py ships 5000, whose restarts"
        " would land in whichever row reached the count and be billed to it)",
    )
    parser.add_argument(
        "--database-core",
        action="store_true",
        help="MariaDB alone on the last core, everything else of the run (gunicorn, Redis, wrk) on the others: the"
        " split of a database server of its own, on one machine (affinities restored at the end)",
    )
    args = parser.parse_args()
    with database_core() if args.database_core else contextlib.nullcontext():
        run(args)


@contextlib.contextmanager
def database_core() -> Iterator[None]:
    """MariaDB's threads on the last core, Redis's and this process's (and so its children's: gunicorn,
    wrk) on the others; each process's affinity as it was afterwards. Threads MariaDB starts later (one a
    connection) inherit its acceptor's."""
    import psutil

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--database-core needs at least 2 cores")
    database, rest = {cores[-1]}, set(cores[:-1])
    pinned: list[tuple[int, set[int]]] = []

    def pin(pid: int, where: set[int]) -> None:
        for task in Path(f"/proc/{pid}/task").iterdir():
            tid = int(task.name)
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                pinned.append((tid, os.sched_getaffinity(tid)))
                os.sched_setaffinity(tid, where)

    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("mariadbd", "mysqld"):
            pin(process.pid, database)
        elif process.info["name"] == "redis-server":
            pin(process.pid, rest)
    pin(os.getpid(), rest)
    print(f"MariaDB on core {cores[-1]}; this run (gunicorn, Redis, wrk) on {sorted(rest)}")
    try:
        yield
    finally:
        for tid, where in reversed(pinned):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(tid, where)


def run(args: argparse.Namespace) -> None:
    env = scratch_env(
        "bench_holds", args.redis_db, ROOT_URLCONF="bench.floor_urls",
        MAX_LIVE_HOLDS_PER_USER_PER_DATE="100000", MAX_SEATS_PER_BUYER_PER_DATE="100000", QUEUE_TOKEN_TTL_SECONDS="3600",
        QUEUE_ACTIVE_IDLE_SECONDS="3600",
        **BOOKING_RATES_LIFTED,
    )  # fmt: skip
    setup_django(env)
    env["GUNICORN_MAX_REQUESTS"] = str(args.max_requests)
    import datetime as dt

    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.common.redis import get_redis
    from apps.concerts import services as catalogue
    from apps.concerts.models import Seat
    from apps.queue.services import issue_access_token
    from apps.reservations.models import Reservation

    get_redis().flushdb()
    buyers = make_buyers(args.buyers)
    access = [f"Bearer {AccessToken.for_user(user)}" for user in buyers]
    rows = (2 * args.buyers + 1 + 99) // 100
    venue = catalogue.create_venue(
        name="Bench Arena", layout=[{"name": "A", "rows": rows, "seats_per_row": 100, "price": "100.00"}]
    )
    concert = catalogue.create_concert(venue=venue, name="Bench", artist="Bench")
    print(
        f"{rows * 100} seats per date, {args.buyers} buyers, {args.rounds} rounds; wrk with {args.connections}"
        f" connections ({args.hot_buyers} for the hot seat), {args.seconds:g} s per row, {args.workers} sync workers\n"
    )

    results: dict[str, list[LoadResult]] = defaultdict(list)
    cpu: dict[int, dict[str, float]] = {}  # id of a row's result -> CPU ms a request by group
    ratios: dict[str, list[float]] = defaultdict(list)
    hot_wins = []
    try:
        with gunicorn(env, workers=args.workers) as base:
            for round_ in range(args.rounds):
                date = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=7))
                seats = list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
                headers = [
                    {"Authorization": bearer, "X-Queue-Token": issue_access_token(user_id=u.pk, concert_date_id=date.pk).token}
                    for u, bearer in zip(buyers, access, strict=True)
                ]  # fmt: skip
                hot_seat = seats[-1]
                # The procedure's floor holds seats of a date of its own (the hold row's are all wanted).
                other = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=8))
                other_seats = list(Seat.objects.filter(concert_date=other).order_by("pk").values_list("pk", flat=True))
                by_user = dict(zip((u.pk for u in buyers), headers, strict=True))

                def run(key: str, name: str, requests: list, connections: int = args.connections, n=round_) -> None:
                    settle(base, {"Authorization": access[0]})
                    before = cpu_seconds()
                    result = wrk(name, base, requests, seconds=args.seconds, connections=connections)
                    after = cpu_seconds()
                    results[key].append(result)
                    cpu[id(result)] = {g: 1000 * (after[g] - before[g]) / max(result.requests, 1) for g in CPU_GROUPS}
                    print(f"round {n + 1}: {result.row()}")

                run("bare", "bare floor (DRF + stateless JWT, no I/O)",
                    [("GET", "/api/bench/floor/bare", h, None) for h in headers[:64]])  # fmt: skip
                run("shaped", "hold-shaped floor (stateless JWT + lock, update, shard update)",
                    [("POST", "/api/bench/floor/hold-shaped", h, {"seat_id": seats[i]}) for i, h in enumerate(headers)])  # fmt: skip
                run("lean", "hold-shaped floor in 3 round trips (lock with version, 1 batch, commit)",
                    [("POST", "/api/bench/floor/hold-shaped/lean", h, {"seat_id": seats[i]})
                     for i, h in enumerate(headers)])  # fmt: skip
                run("proc", "hold procedure's floor (stateless JWT + the hold's one CALL)",
                    [("POST", "/api/bench/floor/hold-procedure", h,
                      {"concert_id": concert.pk, "concert_date_id": other.pk, "seat_ids": other_seats[2 * i : 2 * i + 2]})
                     for i, h in enumerate(headers)])  # fmt: skip
                run(
                    "me",
                    "GET /api/users/me (JWT + user row)",
                    [("GET", "/api/users/me", h, None) for h in headers[:64]],
                )
                run("hold", "POST /api/reservations, 2 disjoint seats",
                    [("POST", "/api/reservations", h, {"concert_date_id": date.pk, "seat_ids": seats[2 * i : 2 * i + 2]})
                     for i, h in enumerate(headers)])  # fmt: skip
                made = Reservation.objects.filter(concert_date=date, status="HELD").count()
                if not made:
                    raise SystemExit("no hold was made: the server is too loaded to measure")
                # Every buyer gets a hold before the payment row (the ones the hold row did not reach are
                # made here, in this process, unmeasured), so that the row pays holds for its whole time
                # instead of counting the refusals of buyers who paid already.
                settle(base, {"Authorization": access[0]})  # the row's last requests answered first
                # Three times what the hold row made is more than the payment row pays in its time; the hot
                # seat's buyers (the last ones) hold nothing, as before.
                topped_up = top_up_holds(buyers[: len(buyers) - args.hot_buyers], seats, date.pk, target=3 * made)
                held = list(Reservation.objects.filter(concert_date=date, status="HELD").values_list("pk", "user_id"))

                def pay_headers(user_id: int, pk: int, by_user=by_user) -> dict:
                    keyed = {"Idempotency-Key": f"bench-{pk}"} if args.keyed_payments else {}
                    return {**by_user[user_id], **keyed}

                run("pay", "POST /api/payments, one hold per buyer" + (", keyed" if args.keyed_payments else ""),
                    [("POST", "/api/payments", pay_headers(user_id, pk), {"reservation_id": pk}) for pk, user_id in held])  # fmt: skip
                hot_headers = headers[-args.hot_buyers :]
                run("hot", f"POST /api/reservations, hot seat, {args.hot_buyers} buyers",
                    [("POST", "/api/reservations", h, {"concert_date_id": date.pk, "seat_ids": [hot_seat]})
                     for h in hot_headers], connections=args.hot_buyers)  # fmt: skip
                hot_wins.append(results["hot"][-1].statuses.get(201, 0))
                bare = results["bare"][-1].per_second
                for key in ROWS:
                    ratios[key].append(results[key][-1].per_second / bare)
                paid = results["pay"][-1].statuses.get(201, 0)
                print(f"round {round_ + 1}: holds {made} made by the hold row and {topped_up} before the payment "
                      f"row, {paid} paid of {len(held)}{'  (the payment row ran out of holds)' if paid >= len(held) else ''}\n")  # fmt: skip

        print("median round of each row, ratio = median of the per-round ratios to the bare floor\n")
        print(f"{HEADER}  ÷ bare floor")
        print("-" * (len(HEADER) + 14))
        print(f"{median_round(results['bare']).row()}  1.00")
        for key in ROWS:
            print(f"{median_round(results[key]).row()}  {statistics.median(ratios[key]):.2f}")
        print("\nCPU ms a request (the median round of each row):\n")
        print(f"{'row':10} " + " ".join(f"{group:>9}" for group in CPU_GROUPS) + f" {'total':>9}")
        for key in ("bare", *ROWS):
            shares = cpu[id(median_round(results[key]))]
            print(f"{key:10} " + " ".join(f"{shares[g]:9.2f}" for g in CPU_GROUPS) + f" {sum(shares.values()):9.2f}")
        fives = sum(n for r in results["hot"] for code, n in r.statuses.items() if code >= 500)
        worst_p99 = max(r.percentile(0.99) for r in results["hot"])
        print(f"\nhot seat: 201s per round {hot_wins}, 5xx {fives}, worst p99 {worst_p99:.0f} ms")
        call_command("check_invariants")
    finally:
        from django.db import connections

        connections.close_all()
        get_redis().flushdb()
        drop_database(env)


if __name__ == "__main__":
    main()
