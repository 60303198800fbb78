"""What the request ids and Prometheus metrics cost on the hottest endpoint, the queue status poll.

    .venv/bin/python bench/observability_cost.py [--requests 300] [--rounds 15]            # CPU per request
    .venv/bin/python bench/observability_cost.py --http [--seconds 4] [--rounds 5]           # wrk, req/s

CPU per request (the default): in this process, two Django WSGI handlers, one with the production
middleware and PROMETHEUS_MULTIPROC_DIR set, one without the request-id and metrics middlewares, serve
GET /api/queue/status (a poller at the back of a 10,000-long line) and the bare framework floor
(DRF + JWT, no work) in alternating blocks of --requests; each block's CPU time (time.process_time:
what this process spent, not what the other processes of a busy machine took from it) per request, and
the median block of each kind. This is the figure to read on a shared machine.

--http: two gunicorn servers (2 sync workers each) on one scratch database and Redis db: one with production
settings and PROMETHEUS_MULTIPROC_DIR (the metrics of every worker in memory-mapped files, as deployed),
one with the request-id and metrics middlewares removed (bench/settings_without_observability.py).
wrk drives GET /api/queue/status for 64 users at the back of a 10,000-long line on each in turn, with
the bare framework floor (DRF + JWT, no work) measured in the same rounds; the order rotates each round
and the median round is shown. Figures on this shared 2-core machine swing by 10 % or more between
runs: read the ratios of one run, not absolute numbers across runs.
Scratch database `bench_observability`, Redis db --redis-db (default 8; flushed before and after).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, rotated_rounds
from bench.queue_line import fill_line, median_round, pollers_at_the_back
from bench.scratch import bench_date, scratch_django
from scripts.local_servers import gunicorn

LINE = 10_000


def cpu_per_request(status: tuple, floor: tuple, *, requests: int, rounds: int) -> None:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    from bench.settings_without_observability import MIDDLEWARE as WITHOUT

    with_handler = WSGIHandler()  # the production MIDDLEWARE
    original = settings.MIDDLEWARE
    settings.MIDDLEWARE = WITHOUT
    try:
        without_handler = WSGIHandler()
        control_handler = WSGIHandler()  # the same again: an A/A control that shows the noise of the method
    finally:
        settings.MIDDLEWARE = original

    def environ(item: tuple) -> dict:
        method, path, headers, _ = item
        meta = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
        return RequestFactory().generic(method, path, HTTP_HOST="127.0.0.1", **meta).environ

    def block(handler: WSGIHandler, item: tuple) -> float:
        env = environ(item)
        started = time.process_time()
        for _ in range(requests):
            response = handler(dict(env), lambda status, headers, exc_info=None: None)
            body = b"".join(response)
            response.close()
        assert b'"status"' in body or b"user_id" in body, body[:200]
        return (time.process_time() - started) / requests * 1e6

    kinds = {
        "floor": (with_handler, floor),
        "without": (without_handler, status),
        "control": (control_handler, status),
        "with": (with_handler, status),
    }
    for handler, item in kinds.values():  # warm up: connections, compiled scripts, caches
        block(handler, item)
    samples: dict[str, list[float]] = {key: [] for key in kinds}
    order = list(kinds)
    for round_ in range(rounds):
        shift = round_ % len(order)
        for key in order[shift:] + order[:shift]:
            samples[key].append(block(*kinds[key]))
    median = {key: statistics.median(values) for key, values in samples.items()}
    print(
        f"CPU time per request in this process, {rounds} rounds of {requests} requests each (order rotated), median block\n"
    )
    print(f"{'row':<46} {'µs/request':>11} {'÷ floor':>8}")
    labels = {
        "floor": "GET /api/bench/floor/bare (floor)",
        "without": "GET /api/queue/status, no ids/metrics",
        "control": "the same again (A/A control)",
        "with": "GET /api/queue/status, ids + metrics",
    }
    for key, label in labels.items():
        print(f"{label:<46} {median[key]:>11.0f} {median[key] / median['floor']:>8.2f}")
    # The instrumentation alone, measured the same way but without the request around it (far less noisy).
    from django.http import JsonResponse
    from django.urls import resolve

    from apps.common.middleware import MetricsMiddleware, RequestIdMiddleware

    request = RequestFactory().get(status[1], HTTP_HOST="127.0.0.1")
    request.resolver_match = resolve(request.path)
    answer = JsonResponse({"status": "WAITING"})
    instrumented = RequestIdMiddleware(MetricsMiddleware(lambda request: answer))
    bare = lambda request: answer  # noqa: E731
    alone = []
    for _ in range(rounds):
        timings = []
        for handler in (bare, instrumented):
            started = time.process_time()
            for _ in range(requests * 10):
                handler(request)
            timings.append((time.process_time() - started) / (requests * 10) * 1e6)
        alone.append(timings[1] - timings[0])
    own = statistics.median(alone)

    cost = median["with"] / median["without"] - 1
    print(f"\nrequest ids + metrics add {median['with'] - median['without']:.0f} µs per status request: {100 * cost:.1f} % "
          f"(per-round: {', '.join(f'{100 * (w / wo - 1):+.1f}' for w, wo in zip(samples['with'], samples['without'], strict=True))} %)")  # fmt: skip
    print(
        f"the two middlewares alone (request id, latency histogram, status counter): {own:.1f} µs per request, "
        f"{100 * own / median['without']:.1f} % of an uninstrumented status request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", action="store_true", help="measure req/s with wrk instead of CPU per request")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=None, help="default: 15 (CPU) or 5 (--http)")
    parser.add_argument("--requests", type=int, default=300, help="requests per CPU block")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--redis-db", type=int, default=8)
    args = parser.parse_args()
    args.rounds = args.rounds or (5 if args.http else 15)
    metrics_dir = tempfile.mkdtemp(prefix="prometheus-")
    if args.http:
        shutil.rmtree(metrics_dir)
    else:
        # Before anything imports prometheus_client: the values go to memory-mapped files, as deployed.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    with scratch_django(
        "bench_observability", args.redis_db, ROOT_URLCONF="bench.floor_urls", QUEUE_MAX_ACTIVE="0"
    ) as env:
        date = bench_date(seats=10)
        fill_line(date.pk, LINE)  # placeholder waiters ahead of the pollers
        pollers = pollers_at_the_back(date)
        status = [
            ("GET", f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}", h, None)
            for h in pollers
        ]
        floor = [("GET", "/api/bench/floor/bare", h, None) for h in pollers]
        if not args.http:
            try:
                cpu_per_request(status[0], floor[0], requests=args.requests, rounds=args.rounds)
            finally:
                shutil.rmtree(metrics_dir, ignore_errors=True)
            return

        with tempfile.TemporaryDirectory(prefix="prometheus-") as http_metrics_dir:
            with_env = {**env, "PROMETHEUS_MULTIPROC_DIR": http_metrics_dir}
            without_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.settings_without_observability"}
            rows: dict[str, list[LoadResult]] = {"floor": [], "without": [], "with": []}
            ratios: list[float] = []
            with gunicorn(with_env) as with_base, gunicorn(without_env) as without_base:
                plan = [
                    ("floor", "GET /api/bench/floor/bare (floor)", with_base, floor),
                    ("without", "status, no ids/metrics", without_base, status),
                    ("with", "status, ids + metrics", with_base, status),
                ]
                for results in rotated_rounds(
                    plan, rounds=args.rounds, seconds=args.seconds, connections=args.connections
                ):
                    for key, result in results.items():
                        rows[key].append(result)
                    if results["without"].per_second:
                        ratios.append(results["with"].per_second / results["without"].per_second)
            scraped = len(list(Path(http_metrics_dir).glob("*.db")))

        print(f"wrk: {args.connections} connections, {args.seconds:.0f} s per row, {args.rounds} rounds (order rotated), "
              f"median round shown; gunicorn: 2 sync workers each; line: {LINE:,} waiting\n")  # fmt: skip
        print(HEADER)
        print("-" * len(HEADER))
        for key in ("floor", "without", "with"):
            print(median_round(rows[key]).row())
        floor_rate = median_round(rows["floor"]).per_second
        print(
            f"\nstatus/floor without: {median_round(rows['without']).per_second / floor_rate:.2f}   "
            f"with: {median_round(rows['with']).per_second / floor_rate:.2f}\n"
            f"with/without, median of per-round ratios: {statistics.median(ratios or [0]):.3f} "
            f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}); cost {100 * (1 - statistics.median(ratios)):.1f} %\n"
            f"({scraped} metric files written by the instrumented server's processes)"
        )


if __name__ == "__main__":
    main()
