"""What a token refresh costs, beside the bare floor, through the real HTTP stack (gunicorn, 2 sync
workers, MariaDB and Redis on loopback).

    .venv/bin/python bench/refresh.py [--sessions 400] [--clients 16] [--seconds 4] [--rounds 3]

A refresh rotates the session's refresh token (the old one stops working), so every request needs a
token of its own: --sessions sessions are opened first (`issue_tokens`, no password hashing), and
each of --clients keep-alive clients walks its share of them, sending each session's newest refresh
token and keeping the one the answer returns. The bare floor (DRF + simplejwt's stateless
authentication, no Redis, no database) runs with the same clients, round after round, interleaved:
reported are each row's median round (requests a second, p50, p99) and its median ratio to the floor
run next to it (this machine is shared: only side-by-side ratios mean anything). The refresh's
statements per request are counted in process (`CaptureQueriesContext`).

Scratch database `bench_refresh` (created and dropped), Redis db --redis-db (default 13; only that db
is flushed), its refresh rate limit raised out of the way.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_django
from scripts.local_servers import gunicorn

DB_NAME = "bench_refresh"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


class Row:
    def __init__(self, name: str) -> None:
        self.name, self.requests, self.seconds, self.latencies, self.failures = name, 0, 0.0, [], 0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(base: str, clients: int, seconds: float, request_for: list, name: str) -> Row:
    """`clients` threads, each with one keep-alive connection, sending `request_for[i]()` (method, path,
    headers, body, and what to do with the answer) back to back for `seconds`."""
    host, port = base.removeprefix("http://").split(":")
    row, lock, stop = Row(name), threading.Lock(), time.perf_counter() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        latencies, failures = [], 0
        while time.perf_counter() < stop:
            method, path, headers, body, answered = request_for[index]()
            began = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            latencies.append(time.perf_counter() - began)
            if response.status != 200:
                failures += 1
            answered(response.status, payload)
        connection.close()
        with lock:
            row.latencies += latencies
            row.failures += failures

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row.seconds, row.requests = time.perf_counter() - began, len(row.latencies)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=400)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()
    with scratch_django(DB_NAME, args.redis_db, ROOT_URLCONF="bench.floor_urls", THROTTLE_REFRESH="1000000/min",
                        THROTTLE_REFRESH_IP="100000000/min") as env:  # fmt: skip
        run(args, env)


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts import services
    from tests.factories import UserFactory

    users = [UserFactory(email=f"refresh{i}@bench.test") for i in range(args.sessions)]
    sessions = [services.issue_tokens(user=user) for user in users]
    with CaptureQueriesContext(connection) as queries:
        sessions[0] = services.rotate_refresh_token(refresh=sessions[0]["refresh"])
    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    access = sessions[0]["access"]

    per_client = [sessions[i :: args.clients] for i in range(args.clients)]
    cursors = [0] * args.clients

    def refresh_request(index: int):
        def make():
            mine = per_client[index]
            session = mine[cursors[index] % len(mine)]
            cursors[index] += 1

            def answered(status: int, payload: bytes) -> None:
                if status == 200:
                    session.update(json.loads(payload))

            body = json.dumps({"refresh": session["refresh"]})
            return "POST", "/api/auth/refresh", {"Content-Type": "application/json"}, body, answered

        return make

    def floor_request(index: int):
        def make():
            return "GET", "/api/bench/floor/bare", {"Authorization": f"Bearer {access}"}, None, lambda *_: None

        return make

    floor_makers = [floor_request(i) for i in range(args.clients)]
    refresh_makers = [refresh_request(i) for i in range(args.clients)]
    rows: dict[str, list[Row]] = {"bare floor": [], "POST /api/auth/refresh": []}
    ratios: list[float] = []
    with gunicorn(env) as base:
        drive(base, args.clients, 1.0, floor_makers, "warm-up")
        for _ in range(args.rounds):
            floor = drive(base, args.clients, args.seconds, floor_makers, "bare floor")
            refresh = drive(base, args.clients, args.seconds, refresh_makers, "POST /api/auth/refresh")
            rows["bare floor"].append(floor)
            rows["POST /api/auth/refresh"].append(refresh)
            ratios.append(refresh.per_second / floor.per_second)
    print(f"{args.clients} clients, {args.sessions} sessions, {args.rounds} rounds of {args.seconds:g} s "
          "(median round; machine shared)")  # fmt: skip
    print(f"{'row':<26}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}")
    for name, runs in rows.items():
        median = sorted(runs, key=lambda r: r.per_second)[len(runs) // 2]
        failures = sum(r.failures for r in runs)
        print(f"{name:<26}{median.per_second:>8.0f}{pct(median.latencies, 0.5):>9.1f}"
              f"{pct(median.latencies, 0.99):>9.1f}{failures:>9}")  # fmt: skip
    print(f"refresh ÷ bare floor: {statistics.median(ratios):.2f} (median of the rounds' ratios)")
    print(f"statements per refresh: {len(statements)} ({', '.join(statements)})")


if __name__ == "__main__":
    main()
