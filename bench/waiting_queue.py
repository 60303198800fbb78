"""The waiting-room endpoints through the real HTTP stack (gunicorn, 2 sync workers; wrk on loopback).

    .venv/bin/python bench/waiting_queue.py [--seconds 3] [--rounds 3] [--waiting 100000]
        [--sizes 1000,100000,1000000] [--baseline /path/to/another/checkout]

Side by side in one run, with --waiting users already in the line:
- the bare floor: a DRF view authenticated by simplejwt's own `JWTStatelessUserAuthentication` (no
  Redis, no database), every ratio's denominator;
- the project's floor: the same view with the project's stateless authentication (its revocation
  check is one Redis round trip);
- POST /api/queue for new entrants and GET /api/queue/status for users at the back of the line.
Then status latency with the line at each of --sizes, each size its own concert date loaded up front.
Every row runs right after a run of the bare floor and reports the median of those paired ratios
over interleaved rounds, next to its median round: this machine is shared, and its load swings
within seconds. With --baseline (e.g. `git worktree add /tmp/base main`), that checkout is served
too, on the same database and Redis, and every row is measured on both, round by round: a before
and after in one run.
Scratch database `bench_queue`, Redis db --redis-db (default 9; only that db is flushed, before and after).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, wrk
from bench.queue_line import POLLERS, bearer, fill_line
from bench.scratch import bench_date, scratch_django
from scripts.local_servers import gunicorn

TOKENS = 4000  # fresh entrants per round, more than a round can serve: every entry is a first entry
GOALS = {"status": 0.75, "enter": 0.55}


@dataclass
class Rows:
    runs: dict[str, list[LoadResult]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)  # req/s ÷ the paired bare floor's
    cpu: dict[str, list[float]] = field(default_factory=dict)  # server CPU ms per request
    cpu_ratios: dict[str, list[float]] = field(default_factory=dict)  # the paired bare floor's ÷ this

    def add(self, key: str, result: LoadResult, cpu_ms: float, bare: LoadResult, bare_cpu_ms: float) -> None:
        self.runs.setdefault(key, []).append(result)
        if cpu_ms:
            self.cpu.setdefault(key, []).append(cpu_ms)
        if bare.per_second:  # a stalled run gives no ratio
            self.ratios.setdefault(key, []).append(result.per_second / bare.per_second)
        if bare_cpu_ms and cpu_ms:
            self.cpu_ratios.setdefault(key, []).append(bare_cpu_ms / cpu_ms)

    def median(self, key: str) -> LoadResult:
        rounds = sorted(self.runs[key], key=lambda r: r.per_second)
        return rounds[len(rounds) // 2]


def server_cpu_ticks(base: str) -> dict[int, int]:
    """CPU ticks (user + system) used so far by each gunicorn process serving `base`: unlike req/s,
    CPU per request hardly moves with what the machine's other users run."""
    listen = f"127.0.0.1:{base.rsplit(':', 1)[1]}".encode()
    ticks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if listen not in cmdline.read():
                    continue
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        ticks[int(pid)] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def timed_wrk(name: str, base: str, requests: list, seconds: float) -> tuple[LoadResult, float]:
    """A wrk run and the server's CPU milliseconds per request during it (0 when unknown: a worker
    was replaced meanwhile, taking its CPU count with it)."""
    before = server_cpu_ticks(base)
    result = wrk(name, base, requests, seconds=seconds)
    after = server_cpu_ticks(base)
    if set(after) != set(before) or not result.requests:
        return result, 0.0
    spent = sum(after.values()) - sum(before.values())
    return result, spent / os.sysconf("SC_CLK_TCK") * 1000 / result.requests


def unload_lines(dates: list[Any]) -> None:
    """UNLINK the big lines (freed in the background) before the scratch db is flushed."""
    from apps.common.redis import get_redis
    from apps.queue.keys import QueueKeys

    get_redis().unlink(*(key for date in dates for key in QueueKeys(date.pk).all()))


def load_lines(waiting: int, sizes: list[int]) -> tuple[Any, dict[int, Any]]:
    """The main date (`waiting` in line) and one date per size, every line filled, pollers at the back."""
    from apps.queue.services import enter_queue

    main, size_dates = bench_date(seats=10), {size: bench_date(seats=10) for size in sizes}
    for date, size in [(main, waiting), *((d, s) for s, d in size_dates.items())]:
        fill_line(date.pk, size, heartbeats=False)
        for n in range(POLLERS):
            enter_queue(user_id=50_000 + n, concert_id=date.concert_id, concert_date_id=date.pk)
    return main, size_dates


def cpu_breakdown(main: Any, repeat: int = 300) -> None:
    """Where a status poll's own CPU goes, in this process (no HTTP, no load generator): each step
    alone, median of 9 blocks, so that the figures hold still while the machine's load moves."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from apps.queue import api, waiting_room
    from apps.queue.access import AccessCheck, QueueJWTAuthentication
    from apps.queue.services import queue_status

    user = 50_000  # a poller at the back of the main line
    raw = APIRequestFactory().get(
        f"/api/queue/status?concert_id={main.concert_id}&concert_date_id={main.pk}", **{
            "HTTP_AUTHORIZATION": bearer(user)["Authorization"]}
    )  # fmt: skip
    request = Request(raw, authenticators=[QueueJWTAuthentication()])
    target, access = waiting_room.target(request.query_params), AccessCheck.of(request)
    state = queue_status(user_id=user, **target, access=access)
    steps = {
        "JWT check (as the bare floor's)": lambda: QueueJWTAuthentication().authenticate(Request(raw)),
        "query validation": lambda: waiting_room.target(request.query_params),
        "revocation keys (AccessCheck.of)": lambda: AccessCheck.of(request),
        "queue_status (one round trip)": lambda: queue_status(user_id=user, **target, access=access),
        "response body": lambda: waiting_room.respond(state, api.STATE),
    }
    blocks: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(9):
        for name, step in steps.items():
            began = time.process_time()
            for _ in range(repeat):
                step()
            blocks[name].append((time.process_time() - began) / repeat * 1e6)
    print("a status poll's own CPU, in process (µs, median of 9 blocks):")
    for name, values in blocks.items():
        print(f"  {name:<36} {statistics.median(values):>6.0f}")
    print()


def measure(servers: dict[str, str], args: argparse.Namespace, main: Any, size_dates: dict[int, Any]) -> Rows:
    pollers = [bearer(50_000 + n) for n in range(POLLERS)]
    floor = [("GET", "/api/bench/floor/bare", h, None) for h in pollers]

    def status(date: Any) -> list:
        path = f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}"
        return [("GET", path, h, None) for h in pollers]

    rows, entrant = Rows(), 1_000
    target = {"concert_id": main.concert_id, "concert_date_id": main.pk}
    for base in servers.values():  # warm the workers up (first requests import the URLconf), unmeasured
        for requests in (floor, [("GET", "/api/bench/floor", h, None) for h in pollers], status(main)):
            wrk("warm-up", base, requests, seconds=2)
    for _ in range(args.rounds):
        for server, base in servers.items():
            entrants = [bearer(entrant + n) for n in range(TOKENS)]  # first entries only
            entrant += TOKENS
            run = {
                "floor": ("floor + revocation check", [("GET", "/api/bench/floor", h, None) for h in pollers]),
                "enter": ("POST /api/queue (new)", [("POST", "/api/queue", h, target) for h in entrants]),
                "status": ("GET /api/queue/status (back)", status(main)),
                **{f"size:{size}": (f"status @ {size:,}", status(date)) for size, date in size_dates.items()},
            }  # fmt: skip
            for key, (name, requests) in run.items():
                bare, bare_cpu = timed_wrk(f"{server}bare floor (DRF + simplejwt)", base, floor, args.seconds)
                rows.add(f"{server}bare", bare, bare_cpu, bare, bare_cpu)
                result, cpu = timed_wrk(f"{server}{name}", base, requests, args.seconds)
                rows.add(f"{server}{key}", result, cpu, bare, bare_cpu)
    return rows


def _ratios(values: list[float]) -> str:
    if not values:  # every round of the row lost its CPU count (a worker replaced mid-run)
        return "n/a"
    return f"{statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"


def report(rows: Rows, servers: list[str], sizes: list[int]) -> None:
    print(f"{HEADER}  CPU ms/req")
    print("-" * (len(HEADER) + 12))
    for server in servers:
        for key in ("bare", "floor", "enter", "status", *(f"size:{size}" for size in sizes)):
            cpu = rows.cpu.get(f"{server}{key}")
            print(f"{rows.median(f'{server}{key}').row()}  {statistics.median(cpu) if cpu else 0:>9.2f}")
    print("\n÷ the bare floor run just before, median of the rounds (each round's in brackets):")
    for server in servers:
        for key in ("floor", "enter", "status"):
            goal = f"   goal ≥ {GOALS[key]:.2f}" if key in GOALS else ""
            print(f"  {server}{key:<7} req/s {_ratios(rows.ratios.get(f'{server}{key}', []))}")
            print(f"  {server}{'':<7} CPU   {_ratios(rows.cpu_ratios.get(f'{server}{key}', []))}{goal}")
        if len(sizes) > 1:
            p99 = [statistics.median(r.percentile(0.99) for r in rows.runs[f"{server}size:{size}"]) for size in sizes]
            print(
                f"  {server}status p99 at {sizes[-1]:,} waiting ÷ at {sizes[0]:,}: {p99[-1] / p99[0]:.2f} (goal ≤ 1.2)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--baseline", type=Path, help="another checkout to serve and measure side by side")
    parser.add_argument("--redis-db", type=int, default=9)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    settings = {
        "ROOT_URLCONF": "bench.floor_urls",
        "THROTTLE_QUEUE_ENTER": "100000000/min", "THROTTLE_QUEUE_ENTER_IP": "100000000/min",
        # Nobody is admitted: every entrant waits, as in a sold-out rush.
        "QUEUE_MIN_ACTIVE": "0", "QUEUE_MAX_ACTIVE": "0", "QUEUE_PREQUEUE_SECONDS": "0",
    }  # fmt: skip
    with scratch_django("bench_queue", args.redis_db, **settings) as env:
        began = time.monotonic()
        main, size_dates = load_lines(args.waiting, sizes)
        print(f"lines loaded in {time.monotonic() - began:.0f} s; wrk: 16 connections, {args.seconds:.0f} s per row, "
              f"{args.rounds} interleaved rounds; gunicorn: 2 sync workers per checkout\n")  # fmt: skip
        cpu_breakdown(main)
        try:
            with contextlib.ExitStack() as stack:
                servers = {}
                if args.baseline:
                    servers["before: "] = stack.enter_context(gunicorn(env, cwd=args.baseline.resolve()))
                servers["after: " if args.baseline else ""] = stack.enter_context(gunicorn(env))
                rows = measure(servers, args, main, size_dates)
        finally:
            unload_lines([main, *size_dates.values()])
        report(rows, list(servers), sizes)


if __name__ == "__main__":
    main()
