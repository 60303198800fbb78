"""The booking rush, end to end: simulated buyers against gunicorn + a Celery worker + Celery beat,
on MariaDB and Redis on this machine (loopback only, bounded in count and time).

    .venv/bin/python bench/rush.py            # short: 200 buyers, 100 seats, well under 3 minutes
    .venv/bin/python bench/rush.py --long     # 2,000 buyers, 1,000 seats

Every buyer logs in, enters the queue of one date that will sell out, polls status as the server
says (poll_after_seconds), and once admitted reads the seat map, holds 1-4 seats (retrying with other
seats on SEAT_UNAVAILABLE) and pays; some abandon their hold. Afterwards it asserts: check_invariants
passes; seats sold equal confirmed reservations' items; money is conserved; every abandoned hold was
released; no 5xx but 503; the queue admitted in arrival order. It prints per-endpoint figures and
writes CSV and PNG plots to bench/out/rush/.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import ROOT, VENV_BIN, drop_database, scratch_env, setup_django, web_tier

OUT = ROOT / "bench" / "out" / "rush"
PASSWORD = "load-test-pass-1"
WALLET = Decimal("1000000.00")


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    ready_seen: list[tuple[float, int]] = field(default_factory=list)  # (received at, entry position)
    waiting_seen: list[tuple[float, int]] = field(default_factory=list)  # (sent at, entry position)
    waits: list[float] = field(default_factory=list)
    sold: list[tuple[float, int]] = field(default_factory=list)
    admitted_at: list[float] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)
    paid: list[int] = field(default_factory=list)
    gave_up: int = 0


async def request(client, stats: Stats, name: str, method: str, path: str, **kwargs):
    began = time.monotonic()
    try:
        response = await client.request(method, path, **kwargs)
    except Exception as exc:  # transport errors count as failures of that endpoint
        stats.codes[name]["transport"] += 1
        stats.errors[f"{name} {type(exc).__name__}"] += 1
        return None, began
    stats.latencies[name].append(time.monotonic() - began)
    stats.codes[name][response.status_code] += 1
    if response.status_code >= 500 and response.status_code != 503:
        stats.server_errors.append(f"{name} {response.status_code} {response.text[:200]}")
    if response.status_code >= 400:
        try:
            stats.errors[f"{name} {response.json()['error']['code']}"] += 1
        except Exception:
            stats.errors[f"{name} {response.status_code}"] += 1
    return response, began


async def buyer(n: int, base: str, concert_id: int, date_id: int, stats: Stats, abandon_rate: float, deadline: float):
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.sleep(random.uniform(0, 3))  # the crowd arrives over a few seconds
        login, _ = await request(client, stats, "POST /api/auth/login", "POST", "/api/auth/login",
                                 json={"email": f"load{n}@example.com", "password": PASSWORD})  # fmt: skip
        if login is None or login.status_code != 200:
            return
        auth = {"Authorization": f"Bearer {login.json()['access']}"}
        target = {"concert_id": concert_id, "concert_date_id": date_id}
        entered_at = time.monotonic()
        response, _ = await request(client, stats, "POST /api/queue", "POST", "/api/queue", json=target, headers=auth)
        if response is None or response.status_code not in (200, 201):
            return
        state = response.json()
        position = state["position"]
        status_path = f"/api/queue/status?concert_id={concert_id}&concert_date_id={date_id}"
        while state["status"] == "WAITING" and time.monotonic() < deadline:
            await asyncio.sleep(state.get("poll_after_seconds") or 5)
            sent = time.monotonic()
            response, _ = await request(client, stats, "GET /api/queue/status", "GET", status_path, headers=auth)
            if response is None or response.status_code != 200:
                continue
            state = response.json()
            if state["status"] == "WAITING":
                stats.waiting_seen.append((sent, position))
        if state["status"] != "READY":
            return
        stats.ready_seen.append((time.monotonic(), position))
        stats.admitted_at.append(time.monotonic() - stats.started)
        stats.waits.append(time.monotonic() - entered_at)
        headers = {**auth, "X-Queue-Token": state["token"]}
        seats_path = f"/api/concerts/{concert_id}/dates/{date_id}/seats?status=AVAILABLE"
        reservation = None
        for _ in range(4):
            response, _ = await request(client, stats, "GET /seats", "GET", seats_path, headers=headers)
            if response is None or response.status_code != 200:
                break
            available = response.json()
            if not available:
                break
            wanted = random.sample(available, min(len(available), random.randint(1, 4)))
            body = {"concert_date_id": date_id, "seat_ids": [seat["id"] for seat in wanted]}
            response, _ = await request(client, stats, "POST /api/reservations", "POST", "/api/reservations",
                                        json=body, headers=headers)  # fmt: skip
            if response is not None and response.status_code == 201:
                reservation = response.json()
                break
            if response is None or response.json()["error"]["code"] != "SEAT_UNAVAILABLE":
                break
        if reservation is None:
            stats.gave_up += 1
            return
        if random.random() < abandon_rate:
            stats.abandoned.append(reservation["id"])
            return
        response, _ = await request(client, stats, "POST /api/payments", "POST", "/api/payments",
                                    json={"reservation_id": reservation["id"]},
                                    headers={**headers, "Idempotency-Key": f"rush-{reservation['id']}"})  # fmt: skip
        if response is not None and response.status_code == 201:
            stats.paid.append(reservation["id"])
            stats.sold.append((time.monotonic() - stats.started, len(reservation["seats"])))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def fifo_violations(stats: Stats) -> int:
    """A READY seen before someone further ahead was told WAITING means someone jumped the line."""
    violations = 0
    ready = sorted(stats.ready_seen)
    for sent, position in stats.waiting_seen:
        violations += sum(1 for at, p in ready if at < sent and p > position)
    return violations


def report(stats: Stats, wall: float) -> list[list[object]]:
    rows = []
    print(f"\n{'endpoint':<26} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for name, latencies in sorted(stats.latencies.items()):
        codes = " ".join(f"{code}:{count}" for code, count in sorted(stats.codes[name].items(), key=str))
        row = [name, len(latencies), len(latencies) / wall, statistics.median(latencies) * 1000,
               percentile(latencies, 0.95), percentile(latencies, 0.99), codes]  # fmt: skip
        rows.append(row)
        print(f"{row[0]:<26} {row[1]:>8} {row[2]:>7.1f} {row[3]:>8.1f} {row[4]:>8.1f} {row[5]:>8.1f}  {codes}")
    print("\nerrors by code:", dict(stats.errors) or "none")
    return rows


def plots(stats: Stats, interval: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if stats.admitted_at:
        buckets = Counter(int(t // interval) * interval for t in stats.admitted_at)
        xs = sorted(buckets)
        axes[0].bar(xs, [buckets[x] for x in xs], width=interval * 0.8)
    axes[0].set(title=f"admitted per {interval} s (seen by buyers)", xlabel="s since start", ylabel="buyers")
    axes[1].hist(stats.waits or [0], bins=20)
    axes[1].set(title="wait from entry to admission", xlabel="s", ylabel="buyers")
    sold = sorted(stats.sold)
    cumulative, total = [], 0
    for _, n in sold:
        total += n
        cumulative.append(total)
    axes[2].plot([t for t, _ in sold], cumulative)
    axes[2].set(title="seats sold over time", xlabel="s since start", ylabel="seats")
    fig.tight_layout()
    fig.savefig(OUT / "rush.png", dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true")
    parser.add_argument("--buyers", type=int)
    parser.add_argument("--seats", type=int)
    parser.add_argument("--abandon", type=float, default=0.15)
    parser.add_argument("--web-servers", type=int, default=1, help="gunicorn servers (behind HAProxy when > 1)")
    parser.add_argument("--celery-workers", type=int, default=1)
    args = parser.parse_args()
    buyers = args.buyers or (2000 if args.long else 200)
    seats = args.seats or (1000 if args.long else 100)
    hold_ttl, sweep, admit_every = 15, 2, 2
    budget = 600 if args.long else 90

    env = scratch_env(
        "bench_rush", 11, HOLD_TTL_SECONDS=str(hold_ttl), HOLD_SWEEP_INTERVAL_SECONDS=str(sweep),
        QUEUE_ADMIT_INTERVAL_SECONDS=str(admit_every), QUEUE_ADMIT_BATCH=str(max(10, buyers // 12)),
        QUEUE_MAX_ACTIVE=str(max(20, buyers // 6)), THROTTLE_LOGIN="100000/min", THROTTLE_QUEUE_ENTER="100000/min",
        THROTTLE_HOLD="100000/min", THROTTLE_PAY="100000/min", THROTTLE_QUEUE_ENTER_IP="100000/min",
        THROTTLE_HOLD_IP="100000/min", THROTTLE_PAY_IP="100000/min", EMAIL_URL="dummymail://",
    )  # fmt: skip
    setup_django(env)
    from django.core.management import call_command
    from django.db import connections
    from django.db.models import Sum

    from apps.accounts.models import User
    from apps.common.redis import get_redis
    from apps.concerts.models import Concert, Seat
    from apps.payments.models import Payment
    from apps.reservations.models import Reservation, ReservationItem

    get_redis().flushdb()
    call_command("seed_load", "--dates", "1", "--seats-per-date", str(seats), "--name", "Rush")
    call_command("seed_load_users", "--users", str(buyers), "--balance", str(WALLET))
    concert = Concert.objects.get(name="Rush")
    date_id = concert.dates.get().pk
    money_before = User.objects.aggregate(s=Sum("balance"))["s"]
    connections.close_all()

    OUT.mkdir(parents=True, exist_ok=True)
    celery = [str(VENV_BIN / "celery"), "-A", "ticketing"]
    workers = [
        subprocess.Popen([*celery, "worker", "-Q", "booking,default,email", "-c", "2", "-n", f"rush{i}@%h",
                          "--loglevel", "WARNING"], env=env, cwd=ROOT)
        for i in range(args.celery_workers)
    ]  # fmt: skip
    beat = subprocess.Popen([*celery, "beat", "--schedule", str(OUT / "celerybeat-schedule"), "--loglevel", "WARNING"],
                            env=env, cwd=ROOT)  # fmt: skip
    stats = Stats()
    try:
        with web_tier(env, servers=args.web_servers) as base:
            print(f"rush: {buyers} buyers for {seats} seats; hold TTL {hold_ttl} s; sweep every {sweep} s; "
                  f"admission every {admit_every} s; budget {budget} s; {args.web_servers} web server(s), "
                  f"{args.celery_workers} Celery worker(s), 1 beat")  # fmt: skip
            stats.started = time.monotonic()
            deadline = stats.started + budget

            async def crowd() -> None:
                await asyncio.gather(*(buyer(n, base, concert.pk, date_id, stats, args.abandon, deadline)
                                       for n in range(buyers)))  # fmt: skip

            asyncio.run(crowd())
            wall = time.monotonic() - stats.started
            rows = report(stats, wall)
            # Let every abandoned hold reach its expiry and the sweep run.
            time.sleep(hold_ttl + 3 * sweep)
    finally:
        for process in [*workers, beat]:
            process.terminate()
        for process in [*workers, beat]:
            process.wait(30)

    sold_seats = Seat.objects.filter(concert_date_id=date_id, status="RESERVED").count()
    confirmed_items = ReservationItem.objects.filter(reservation__status="CONFIRMED").count()
    money_after = User.objects.aggregate(s=Sum("balance"))["s"]
    paid_total = Payment.objects.filter(status="PAID").aggregate(s=Sum("amount"))["s"] or Decimal(0)
    unreleased = Reservation.objects.filter(pk__in=stats.abandoned).exclude(status="EXPIRED").count()
    violations = fifo_violations(stats)
    waits = stats.waits or [0]
    print(f"\nadmitted {len(stats.ready_seen)} of {buyers}; paid {len(stats.paid)}; abandoned {len(stats.abandoned)}; "
          f"found no seat {stats.gave_up}; wait to admission p50 {statistics.median(waits):.1f} s, "
          f"max {max(waits):.1f} s")  # fmt: skip
    print(f"seats sold {sold_seats} of {seats}; confirmed reservation items {confirmed_items}")
    print(f"money: wallets before {money_before}, after {money_after} + paid {paid_total} = {money_after + paid_total}")
    print(f"abandoned holds not released: {unreleased}; FIFO violations: {violations}; "
          f"5xx other than 503: {len(stats.server_errors)}")  # fmt: skip

    with open(OUT / "endpoints.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["endpoint", "requests", "req_per_s", "p50_ms", "p95_ms", "p99_ms", "statuses"])
        writer.writerows(rows)
    with open(OUT / "timeline.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event", "seconds_since_start", "value"])
        writer.writerows(("admitted", round(t, 3), 1) for t in stats.admitted_at)
        writer.writerows(("sold", round(t, 3), n) for t, n in stats.sold)
    plots(stats, admit_every)
    print(f"wrote {OUT / 'endpoints.csv'}, {OUT / 'timeline.csv'}, {OUT / 'rush.png'}")

    failures = []
    try:
        call_command("check_invariants", grace_seconds=0)
    except Exception as exc:
        failures.append(f"check_invariants: {exc}")
    if sold_seats != confirmed_items:
        failures.append("seats sold differ from confirmed reservation items")
    if money_after + paid_total != money_before:
        failures.append("money was created or lost")
    if unreleased:
        failures.append(f"{unreleased} abandoned holds were not released")
    if stats.server_errors:
        failures.append(f"server errors: {stats.server_errors[:3]}")
    if violations:
        failures.append(f"{violations} FIFO violations")
    connections.close_all()
    get_redis().flushdb()
    drop_database(env)
    if failures:
        print("RUSH FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("rush: all checks passed")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
