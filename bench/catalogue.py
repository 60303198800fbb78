"""The seat map of one concert date with 50,000 seats, mid-sale, through the real HTTP stack
(gunicorn, 2 sync workers, MariaDB and Redis; wrk on loopback).

    .venv/bin/python bench/catalogue.py [--seats 50000] [--seconds 3] [--rounds 3] [--index]

In one run, side by side:
- the bare floor (DRF + simplejwt's `JWTStatelessUserAuthentication`, no Redis, no database) and the
  project's floor (adds the token-revocation round trip);
- throughput (wrk, 16 connections) of `…/seat-status` (200 with gzip, and 304 on `If-None-Match`),
  `…/seat-layout` (200 with gzip, and 304) and the seat list `…/seats?status=AVAILABLE`;
- latency (one client, one request at a time) of the seat status and the seat list warm (stored
  bytes) and cold (the date's map version bumped before every request, as a committed seat change
  does), and the bytes each answer puts on the wire.
Every wrk row runs right after a run of the bare floor, round after round, and reports its median
round and the median of its ratios to the floor run next to it: this machine is shared, and only
ratios measured side by side mean anything. An endpoint the checked-out code does not have is
reported as such (the "before" run).

`--index` adds the available-seat query with and without the `seat_date_status` index (EXPLAIN and
timings), mid-sale and late in the sale. Other dates of the same concert (copies of the first,
--other-dates) fill the seat table as production would.

Uses a scratch database `bench_catalogue` on 127.0.0.1 (created and dropped), Redis db --redis-db
(default 13; only that db is flushed) and gunicorn on --port (default 18300).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.client
import inspect
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, wrk
from bench.scratch import scratch_django
from scripts.local_servers import gunicorn

DB_NAME = "bench_catalogue"
GZIP = {"Accept-Encoding": "gzip"}


def timed(fn: Callable[[], object], rounds: int, before: Callable[[], None] | None = None) -> list[float]:
    """Milliseconds per call; `before` runs outside the timing (e.g. to bump the map version)."""
    samples = []
    for _ in range(rounds):
        if before:
            before()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def median_round(rounds: list[LoadResult]) -> LoadResult:
    return sorted(rounds, key=lambda r: r.per_second)[len(rounds) // 2]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    wire: bytes  # as sent (gzip when the server chose it)

    @property
    def body(self) -> bytes:
        return gzip.decompress(self.wire) if self.headers.get("content-encoding") == "gzip" else self.wire


class Client:
    """One keep-alive connection, one request at a time: latency without queueing."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def get(self, path: str, headers: dict[str, str]) -> Answer:
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        wire = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, wire)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=3, help="wrk seconds per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds (median shown)")
    parser.add_argument("--samples", type=int, default=15, help="sequential requests per latency row")
    parser.add_argument("--other-dates", type=int, default=4, help="more dates of as many seats, in the same table")
    parser.add_argument("--churn", type=float, default=10, help="seat changes a second in the churn rows")
    parser.add_argument("--port", type=int, default=18300)
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--index", action="store_true", help="also time the available-seat query without its index")
    args = parser.parse_args()

    with scratch_django(DB_NAME, args.redis_db, QUEUE_TOKEN_TTL_SECONDS="3600", ROOT_URLCONF="bench.floor_urls") as env:
        run(args, env)


def seed(seat_count: int, other_dates: int):
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from apps.concerts import services
    from apps.concerts.models import ConcertDate, Seat, SeatStatus

    per_row, sections = 100, 10
    rows, rest = divmod(seat_count, per_row)
    layout = [
        {"name": f"S{i + 1}", "rows": rows // sections + (1 if i < rows % sections else 0), "seats_per_row": per_row,
         "price": f"{150000 - i * 10000}.00"}
        for i in range(sections)
    ]  # fmt: skip
    layout = [section for section in layout if section["rows"]]
    if rest:
        layout.append({"name": "Balcony", "rows": 1, "seats_per_row": rest, "price": "30000.00"})
    venue = services.create_venue(name="Bench Arena", address="Loopback", layout=layout)
    concert = services.create_concert(venue=venue, name="Bench Tour", artist="Bench")
    date = services.create_concert_date(
        concert=concert,
        starts_at=timezone.now() + dt.timedelta(days=30),
        booking_opens_at=timezone.now() - dt.timedelta(hours=1),
    )
    # Other performances of the same show fill the table, as they would in production, so that a
    # plan that scans more than the date's own rows shows its cost. Copied in SQL: seconds, not minutes.
    for day in range(1, other_dates + 1):
        other = ConcertDate.objects.create(
            concert=concert, starts_at=date.starts_at + dt.timedelta(days=day), booking_opens_at=date.booking_opens_at,
            total_seats=date.total_seats,
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO seat (created_at, updated_at, seat_num, section, `row`, price, status, held_until,"
                " version, concert_date_id, place_id) SELECT created_at, updated_at, seat_num, section, `row`,"
                " price, status, held_until, version, %s, place_id FROM seat WHERE concert_date_id = %s",
                [other.pk, date.pk],
            )
        services.recount_inventory(concert_date_id=other.pk)

    # Mid-sale: 60 % reserved, 4 % held, 2 % held with an expired hold (reads AVAILABLE), 34 % free,
    # scattered over the venue at random (fixed seed): a worse case for gzip than the blocks a real
    # sale leaves, where neighbours are bought together.
    ids = list(Seat.objects.filter(concert_date=date).order_by("seat_num").values_list("pk", flat=True))
    fate: dict[str, list[int]] = {"reserved": [], "held": [], "expired": []}
    draw = random.Random(13)
    for pk in ids:
        slot = draw.random()
        if slot < 0.60:
            fate["reserved"].append(pk)
        elif slot < 0.64:
            fate["held"].append(pk)
        elif slot < 0.66:
            fate["expired"].append(pk)

    def set_status(seat_ids: list[int], status: str, held_until: dt.datetime | None = None) -> None:
        for i in range(0, len(seat_ids), 5000):
            Seat.objects.filter(pk__in=seat_ids[i : i + 5000]).update(status=status, held_until=held_until)

    set_status(fate["reserved"], SeatStatus.RESERVED)
    set_status(fate["held"], SeatStatus.HELD, timezone.now() + dt.timedelta(hours=1))
    set_status(fate["expired"], SeatStatus.HELD, timezone.now() - dt.timedelta(minutes=1))
    services.recount_inventory(concert_date_id=date.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE seat")
    return concert, date, ids, fate


# (row name, path, request headers or None when the code has no such endpoint, seat changes per second)
Plan = list[tuple[str, str, list[dict[str, str]] | None, float]]


def credentials(date_id: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """16 admitted buyers (login + the date's queue token) and 16 bare tokens for the floor."""
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.services import issue_tokens
    from apps.queue.services import issue_access_token
    from tests.factories import UserFactory

    buyers = []
    for _ in range(16):
        user = UserFactory()
        buyers.append({
            "Authorization": f"Bearer {issue_tokens(user=user)['access']}",
            "X-Queue-Token": issue_access_token(user_id=user.pk, concert_date_id=date_id).token,
        })  # fmt: skip
    bare = []
    for n in range(16):
        token = AccessToken()
        token["user_id"] = str(900_000 + n)
        bare.append({"Authorization": f"Bearer {token}"})
    return buyers, bare


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    from apps.concerts.models import Seat

    try:  # where the map version lives (before the stored seat map: in selectors)
        from apps.concerts.seat_map import invalidate_seat_map
    except ImportError:
        from apps.concerts.selectors import invalidate_seat_map

    start = time.perf_counter()
    concert, date, ids, fate = seed(args.seats, args.other_dates)
    n, free = len(ids), len(ids) - len(fate["reserved"]) - len(fate["held"])
    print(f"\nseeded 1 date with {n:,} seats in {time.perf_counter() - start:.1f} s; the seat table holds "
          f"{Seat.objects.count():,} rows ({args.other_dates} more dates)")  # fmt: skip
    print(f"mid-sale, scattered: {len(fate['reserved']):,} reserved, {len(fate['held']):,} held, "
          f"{len(fate['expired']):,} held past expiry, {free:,} available to read")  # fmt: skip
    print(f"gunicorn: 2 sync workers on port {args.port}; wrk: 16 connections; each row runs right after the "
          f"bare floor, {args.seconds:.0f} s each, {args.rounds} rounds: median round and median paired ratio\n")  # fmt: skip
    buyers, bare = credentials(date.pk)
    base = f"/api/concerts/{concert.pk}/dates/{date.pk}"
    paths = {"status": f"{base}/seat-status", "layout": f"{base}/seat-layout", "all": f"{base}/seats",
             "available": f"{base}/seats?status=AVAILABLE"}  # fmt: skip
    headers = {"status": buyers[0], "layout": {}, "all": buyers[0], "available": buyers[0]}

    with gunicorn(env, port=args.port) as base_url:
        client = Client(base_url)
        answers = {key: client.get(path, {**headers[key], **GZIP}) for key, path in paths.items()}
        answers = {key: answer if answer.status != 404 else None for key, answer in answers.items()}
        check_answers(answers, n, free)

        def zipped(who: list[dict[str, str]], key: str, revalidate: bool = False) -> list[dict[str, str]] | None:
            answer = answers[key]
            if answer is None or (revalidate and "etag" not in answer.headers):
                return None
            return [{**h, **GZIP, **({"If-None-Match": answer.headers["etag"]} if revalidate else {})} for h in who]

        plan: Plan = [
            ("project floor (+ revocation round trip)", "/api/bench/floor", bare, 0),
            ("seat-status 200 (gzip)", paths["status"], zipped(buyers, "status"), 0),
            ("seat-status 304", paths["status"], zipped(buyers, "status", revalidate=True), 0),
            ("seat-layout 200 (gzip)", paths["layout"], zipped([{}], "layout"), 0),
            ("seat-layout 304", paths["layout"], zipped([{}], "layout", revalidate=True), 0),
            ("seats?status=AVAILABLE 200 (gzip)", paths["available"], zipped(buyers, "available"), 0),
            ("seats?status=AVAILABLE 304", paths["available"], zipped(buyers, "available", revalidate=True), 0),
            (f"seat-status, {args.churn:g} seat changes/s", paths["status"], zipped(buyers, "status"), args.churn),
            (f"seats?status=AVAILABLE, {args.churn:g} changes/s", paths["available"], zipped(buyers, "available"),
             args.churn),
        ]  # fmt: skip

        def bump() -> None:  # a change that names no seats: every seat is read again (cold)
            invalidate_seat_map(concert_date_id=date.pk)

        draw = random.Random(7)
        names_seats = "seat_ids" in inspect.signature(invalidate_seat_map).parameters

        def hold_like_change() -> None:
            """Two seats change (free ↔ taken, written directly: only the map is measured here) and the
            change is announced as a committed hold announces it (before this rework: without seat ids)."""
            from django.db.models import Case, Value, When

            picked = draw.sample(ids, 2)
            flipped = Case(When(status="AVAILABLE", then=Value("RESERVED")), default=Value("AVAILABLE"))
            Seat.objects.filter(pk__in=picked).update(status=flipped)
            if names_seats:
                invalidate_seat_map(concert_date_id=date.pk, seat_ids=picked)
            else:
                bump()

        def settle(path: str, sent: list[dict[str, str]]) -> list[dict[str, str]]:
            """Wait out the requests a slow row left queued in gunicorn; a revalidating row gets the
            ETag of the body as it is now (the churn rows move the version, and the body names it)."""
            client.get("/api/bench/floor/bare", bare[0])
            if "If-None-Match" not in sent[0]:
                return sent
            plain = {k: v for k, v in sent[0].items() if k != "If-None-Match"}
            etag = client.get(path, plain).headers["etag"]
            return [{**h, "If-None-Match": etag} for h in sent]

        rows = throughput(base_url, plan, bare, hold_like_change, settle, rounds=args.rounds, seconds=args.seconds)

        latency = []
        for key, name in [("status", "seat-status"), ("available", "seats?status=AVAILABLE"), ("all", "seats (all)"),
                          ("layout", "seat-layout")]:  # fmt: skip
            if answers[key] is None:
                latency.append((name, None, None, None))
                continue

            call = functools.partial(fetch, client, paths[key], {**headers[key], **GZIP})

            cold = timed(call, args.samples, bump) if key != "layout" else None
            latency.append((name, timed(call, args.samples * 2), cold, answers[key]))
    print_tables(plan, rows, latency)
    if args.index:
        index_comparison(date, args.samples)


def fetch(client: Client, path: str, headers: dict[str, str]) -> None:
    assert client.get(path, headers).status == 200


def check_answers(answers: dict[str, Answer | None], seats: int, free: int) -> None:
    """The bodies are what the benchmark thinks it measures (checked once, outside the timing)."""
    assert answers["all"] is not None and answers["available"] is not None
    assert len(json.loads(answers["all"].body)) == seats
    assert len(json.loads(answers["available"].body)) == free
    if answers["status"] is not None:
        codes = json.loads(answers["status"].body)["codes"]
        assert len(codes) == seats and codes.count("A") == free, (len(codes), codes.count("A"))


def throughput(
    base_url: str,
    plan: Plan,
    bare: list[dict[str, str]],
    bump: Callable[[], None],
    settle: Callable[[str, list[dict[str, str]]], list[dict[str, str]]],
    *,
    rounds: int,
    seconds: float,
) -> dict[str, tuple[list[LoadResult], list[float], list[LoadResult]]]:
    """wrk on each row right after wrk on the bare floor, round after round: each ratio is to the
    floor measured next to it, so a burst of other work on the machine moves both. A row with seat
    changes has the map version bumped that many times a second while it runs (what holds and
    payments committing do to it in a sale)."""
    floor = [("GET", "/api/bench/floor/bare", h, None) for h in bare]
    floor_headers = bare
    rows: dict[str, tuple[list[LoadResult], list[float], list[LoadResult]]] = {}
    for _ in range(rounds):
        for name, path, sent, changes in plan:
            if sent is None:
                continue
            settle("/api/bench/floor/bare", floor_headers)
            base = wrk("bare floor", base_url, floor, seconds=seconds)
            sent = settle(path, sent)
            with seat_changes(bump, changes):
                result = wrk(name, base_url, [("GET", path, h, None) for h in sent], seconds=seconds)
            results, ratios, floors = rows.setdefault(name, ([], [], []))
            results.append(result)
            ratios.append(result.per_second / base.per_second if base.per_second else float("nan"))
            floors.append(base)
    return rows


@contextmanager
def seat_changes(bump: Callable[[], None], per_second: float) -> Iterator[None]:
    """`bump` called `per_second` times a second on a thread for the duration of the block."""
    if not per_second:
        yield
        return
    done = threading.Event()

    def run() -> None:
        from django.db import connection

        try:
            while not done.wait(1 / per_second):
                bump()
        finally:
            connection.close()  # this thread's own

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def print_tables(plan: Plan, rows: dict, latency: list) -> None:
    print(f"{HEADER}  ÷ bare floor next to it: median (each round)")
    print("-" * (len(HEADER) + 44))
    all_floors = [floor for _, _, floors in rows.values() for floor in floors]
    print(f"{median_round(all_floors).row()}  1.00 (median of all {len(all_floors)} floor runs)")
    for name, _path, sent, _changes in plan:
        if sent is None:
            print(f"{name:<44} {'not in this code':>24}")
            continue
        results, ratios, _ = rows[name]
        per_round = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"{median_round(results).row()}  {statistics.median(ratios):.2f} ({per_round})")

    print(f"\n{'one request at a time':<26} {'warm p50':>9} {'warm p95':>9} {'cold p50':>9} {'cold p95':>9} "
          f"{'warm÷cold':>9} {'on the wire':>12} {'raw':>10}")  # fmt: skip
    for name, warm, cold, answer in latency:
        if warm is None:
            print(f"{name:<26} {'not in this code':>28}")
            continue
        cold_p50 = f"{statistics.median(cold):>9.1f} {p95(cold):>9.1f}" if cold else f"{'':>9} {'':>9}"
        ratio = f"{statistics.median(warm) / statistics.median(cold):>9.3f}" if cold else f"{'':>9}"
        print(f"{name:<26} {statistics.median(warm):>9.1f} {p95(warm):>9.1f} {cold_p50} {ratio} "
              f"{len(answer.wire) / 1024:>9,.1f} KiB {len(answer.body) / 1024:>6,.0f} KiB")  # fmt: skip


def index_comparison(date: object, rounds: int) -> None:
    """The available-seat query with and without its `seat_date_status (concert_date, status)` index."""
    from django.db import connection
    from django.db.models import Q
    from django.utils import timezone

    from apps.concerts.models import Seat, SeatStatus

    def available_seats():
        """Seats a buyer can hold now: AVAILABLE, or HELD by an expired hold (both ranges of the index)."""
        return Seat.objects.filter(
            Q(status=SeatStatus.AVAILABLE) | Q(status=SeatStatus.HELD, held_until__lte=timezone.now()),
            concert_date_id=date.pk,
        ).order_by("seat_num")

    def explain(sql: str, params: tuple) -> str:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            columns = [c[0] for c in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
        return f"type={row['type']} key={row['key']} rows={row['rows']} extra={row['Extra']}"

    def index_rows(label: str) -> list[tuple[str, str, float, float, str]]:
        qs = available_seats()
        sql, params = qs.values_list("pk", flat=True).query.sql_with_params()
        fetch = timed(lambda: list(available_seats().values_list("pk", flat=True)),
                      rounds)  # fmt: skip
        count = timed(lambda: available_seats().count(), rounds)
        return [(label, "ids", statistics.median(fetch), p95(fetch), explain(sql, params)),
                (label, "count", statistics.median(count), p95(count), "")]  # fmt: skip

    def with_and_without(state: str) -> list[tuple[str, str, float, float, str]]:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE TABLE seat")
        result = index_rows(f"{state}, with seat_date_status")
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE seat DROP INDEX seat_date_status")
            cursor.execute("ANALYZE TABLE seat")
        try:
            result += index_rows(f"{state}, without (unique (date, seat_num) only)")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("CREATE INDEX seat_date_status ON seat (concert_date_id, status)")
        return result

    free = available_seats().count()
    table = with_and_without(f"mid-sale ({free:,} free)")
    still_free = list(available_seats().values_list("pk", flat=True))
    late = still_free[: len(still_free) * 94 // 100]  # late in the sale: a few % left
    for i in range(0, len(late), 5000):
        Seat.objects.filter(pk__in=late[i : i + 5000]).update(status=SeatStatus.RESERVED, held_until=None)
    free = available_seats().count()
    table += with_and_without(f"late ({free:,} free)")

    print(f"\n{'available_seats(concert_date_id)':<60} {'what':<6} {'p50 ms':>8} {'p95 ms':>8}  EXPLAIN")
    for label, what, median, high, plan in table:
        print(f"{label:<60} {what:<6} {median:>8.1f} {high:>8.1f}  {plan}")


if __name__ == "__main__":
    main()
