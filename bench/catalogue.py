"""The seat map of one concert date with 50,000 seats, mid-sale, through the real HTTP stack
(gunicorn, 2 sync workers, MariaDB and Redis; wrk on loopback).

    .venv/bin/python bench/catalogue.py [--seats 50000] [--seconds 3] [--rounds 3] [--index]

In one run, side by side:
- the bare floor (DRF + simplejwt's `JWTStatelessUserAuthentication`, no Redis, no database) and the
  project's floor (adds the logout deny-list round trip);
- throughput (wrk, 16 connections) of `…/seat-status` (200 with gzip, and 304 on `If-None-Match`),
  `…/seat-layout` (200 with gzip, and 304) and the seat list `…/seats?status=AVAILABLE`;
- latency (one client, one request at a time) of the seat status and the seat list warm (stored
  bytes) and cold (the date's map version bumped before every request, as a committed seat change
  does), and the bytes each answer puts on the wire.
The wrk rows run in interleaved rounds and each row reports its median round, with its ratio to the
bare floor of the same round: this machine is shared, so only ratios within one run mean anything.
An endpoint the checked-out code does not have is reported as such (the "before" run).

`--index` adds the available-seat query with and without the `seat_date_status` index (EXPLAIN and
timings), mid-sale and late in the sale. Other dates of the same concert (copies of the first,
--other-dates) fill the seat table as production would.

Uses a scratch database `bench_catalogue` on 127.0.0.1 (created and dropped), Redis db --redis-db
(default 13; only that db is flushed) and gunicorn on --port (default 18300).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import HEADER, LoadResult, gunicorn, wrk
from bench.scratch import scratch_django

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
    from apps.concerts.models import ConcertDate, Inventory, Seat, SeatStatus

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
        Inventory.objects.create(
            concert=concert, concert_date=other, total=date.total_seats, remaining=date.total_seats
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO seat (created_at, updated_at, seat_num, section, `row`, price, status, held_until,"
                " version, concert_date_id, place_id) SELECT created_at, updated_at, seat_num, section, `row`,"
                " price, status, held_until, version, %s, place_id FROM seat WHERE concert_date_id = %s",
                [other.pk, date.pk],
            )

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
    not_available = len(fate["reserved"]) + len(fate["held"]) + len(fate["expired"])
    Inventory.objects.filter(concert_date=date).update(remaining=len(ids) - not_available)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE seat")
    return concert, date, ids, fate


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.services import issue_tokens
    from apps.concerts.models import Seat
    from apps.queue.services import issue_access_token
    from tests.factories import UserFactory

    start = time.perf_counter()
    concert, date, ids, fate = seed(args.seats, args.other_dates)
    seed_seconds = time.perf_counter() - start
    n, free = len(ids), len(ids) - len(fate["reserved"]) - len(fate["held"])

    # Buyers with a login and the date's queue token (the seat list loads the user row: real users).
    buyers = []
    for _ in range(16):
        user = UserFactory()
        buyers.append({
            "Authorization": f"Bearer {issue_tokens(user=user)['access']}",
            "X-Queue-Token": issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
        })  # fmt: skip
    bare = []
    for n_user in range(16):
        token = AccessToken()
        token["user_id"] = str(900_000 + n_user)
        bare.append({"Authorization": f"Bearer {token}"})

    base_path = f"/api/concerts/{concert.pk}/dates/{date.pk}"
    status_path, layout_path = f"{base_path}/seat-status", f"{base_path}/seat-layout"
    seats_path, available_path = f"{base_path}/seats", f"{base_path}/seats?status=AVAILABLE"

    try:  # where the map version lives (before the stored seat map: in selectors)
        from apps.concerts.seat_map import invalidate_seat_map
    except ImportError:
        from apps.concerts.selectors import invalidate_seat_map

    def bump() -> None:
        invalidate_seat_map(concert_date_id=date.pk)

    print(f"\nseeded 1 date with {n:,} seats in {seed_seconds:.1f} s; the seat table holds {Seat.objects.count():,} "
          f"rows ({args.other_dates} more dates)")  # fmt: skip
    print(f"mid-sale, scattered: {len(fate['reserved']):,} reserved, {len(fate['held']):,} held, "
          f"{len(fate['expired']):,} held past expiry, {free:,} available to read")  # fmt: skip
    print(f"gunicorn: 2 sync workers on port {args.port}; wrk: 16 connections, {args.seconds:.0f} s per row, "
          f"{args.rounds} interleaved rounds, median round shown\n")  # fmt: skip

    with gunicorn(env, port=args.port) as base_url:
        client = Client(base_url)
        first = buyers[0]

        def check(path: str, headers: dict[str, str]) -> Answer | None:
            answer = client.get(path, headers)
            if answer.status == 404:
                return None
            assert answer.status == 200, (path, answer.status, answer.wire[:300])
            return answer

        status_answer = check(status_path, {**first, **GZIP})
        layout_answer = check(layout_path, GZIP)
        available_answer = check(available_path, {**first, **GZIP})
        all_answer = check(seats_path, {**first, **GZIP})
        assert available_answer is not None and all_answer is not None
        assert len(json.loads(all_answer.body)) == n
        assert len(json.loads(available_answer.body)) == free
        if status_answer is not None:
            codes = json.loads(status_answer.body)["codes"]
            assert len(codes) == n and codes.count("A") == free, (len(codes), codes.count("A"))

        # --- Throughput: wrk rows, interleaved rounds -----------------------------------------------
        def with_etag(answer: Answer | None, headers: list[dict[str, str]]) -> list[dict[str, str]] | None:
            if answer is None or "etag" not in answer.headers:
                return None
            return [{**h, **GZIP, "If-None-Match": answer.headers["etag"]} for h in headers]

        plan: list[tuple[str, str, str, list[dict[str, str]] | None]] = [
            ("bare", "bare floor (DRF + simplejwt stateless, no Redis/DB)", "/api/bench/floor/bare", bare),
            ("floor", "project floor (+ deny-list round trip)", "/api/bench/floor", bare),
            ("status", "seat-status 200 (gzip)", status_path,
             [{**h, **GZIP} for h in buyers] if status_answer else None),
            ("status304", "seat-status 304", status_path, with_etag(status_answer, buyers)),
            ("layout", "seat-layout 200 (gzip)", layout_path, [GZIP] if layout_answer else None),
            ("layout304", "seat-layout 304", layout_path, with_etag(layout_answer, [{}])),
            ("available", "seats?status=AVAILABLE 200 (gzip accepted)", available_path,
             [{**h, **GZIP} for h in buyers]),
            ("available304", "seats?status=AVAILABLE 304", available_path, with_etag(available_answer, buyers)),
        ]  # fmt: skip
        rows: dict[str, list[LoadResult]] = {}
        ratios: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            results = {}
            for key, name, path, headers in plan:
                if headers is None:
                    continue
                requests = [("GET", path, h, None) for h in headers]
                results[key] = wrk(name, base_url, requests, seconds=args.seconds)
                rows.setdefault(key, []).append(results[key])
            for key, result in results.items():
                ratios.setdefault(key, []).append(result.per_second / results["bare"].per_second)

        # --- Latency: one request at a time, warm and cold -------------------------------------------
        latency = []
        for name, path, headers, answer in [
            ("seat-status", status_path, {**first, **GZIP}, status_answer),
            ("seats?status=AVAILABLE", available_path, {**first, **GZIP}, available_answer),
            ("seats (all)", seats_path, {**first, **GZIP}, all_answer),
            ("seat-layout", layout_path, GZIP, layout_answer),
        ]:
            if answer is None:
                latency.append((name, None, None, None, None))
                continue

            def call(path: str = path, headers: dict[str, str] = headers) -> None:
                assert client.get(path, headers).status == 200

            cold = timed(call, args.samples, bump) if name != "seat-layout" else None
            warm = timed(call, args.samples * 2)
            latency.append((name, warm, cold, len(answer.wire), len(answer.body)))

    print(f"{HEADER}  ÷ bare floor (median of rounds)")
    print("-" * (len(HEADER) + 32))
    for key, name, _path, headers in plan:
        if headers is None:
            print(f"{name:<44} {'not in this code':>24}")
            continue
        per_round = ", ".join(f"{r:.2f}" for r in ratios[key])
        print(f"{median_round(rows[key]).row()}  {statistics.median(ratios[key]):.2f} ({per_round})")

    print(f"\n{'one request at a time':<26} {'warm p50':>9} {'warm p95':>9} {'cold p50':>9} {'cold p95':>9} "
          f"{'warm÷cold':>9} {'on the wire':>12} {'raw':>10}")  # fmt: skip
    for name, warm, cold, wire, raw in latency:
        if warm is None:
            print(f"{name:<26} {'not in this code':>28}")
            continue
        cold_p50 = f"{statistics.median(cold):>9.1f} {p95(cold):>9.1f}" if cold else f"{'':>9} {'':>9}"
        ratio = f"{statistics.median(warm) / statistics.median(cold):>9.3f}" if cold else f"{'':>9}"
        print(f"{name:<26} {statistics.median(warm):>9.1f} {p95(warm):>9.1f} {cold_p50} {ratio} "
              f"{wire / 1024:>9,.1f} KiB {raw / 1024:>6,.0f} KiB")  # fmt: skip

    if args.index:
        index_comparison(date, args.samples)


def index_comparison(date: object, rounds: int) -> None:
    """The available-seat query with and without its `seat_date_status (concert_date, status)` index."""
    from django.db import connection

    from apps.concerts import selectors
    from apps.concerts.models import Seat, SeatStatus

    def explain(sql: str, params: tuple) -> str:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            columns = [c[0] for c in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
        return f"type={row['type']} key={row['key']} rows={row['rows']} extra={row['Extra']}"

    def index_rows(label: str) -> list[tuple[str, str, float, float, str]]:
        qs = selectors.available_seats(concert_date_id=date.pk)
        sql, params = qs.values_list("pk", flat=True).query.sql_with_params()
        fetch = timed(lambda: list(selectors.available_seats(concert_date_id=date.pk).values_list("pk", flat=True)),
                      rounds)  # fmt: skip
        count = timed(lambda: selectors.available_seats(concert_date_id=date.pk).count(), rounds)
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

    free = selectors.available_seats(concert_date_id=date.pk).count()
    table = with_and_without(f"mid-sale ({free:,} free)")
    still_free = list(selectors.available_seats(concert_date_id=date.pk).values_list("pk", flat=True))
    late = still_free[: len(still_free) * 94 // 100]  # late in the sale: a few % left
    for i in range(0, len(late), 5000):
        Seat.objects.filter(pk__in=late[i : i + 5000]).update(status=SeatStatus.RESERVED, held_until=None)
    free = selectors.available_seats(concert_date_id=date.pk).count()
    table += with_and_without(f"late ({free:,} free)")

    print(f"\n{'available_seats(concert_date_id)':<60} {'what':<6} {'p50 ms':>8} {'p95 ms':>8}  EXPLAIN")
    for label, what, median, high, plan in table:
        print(f"{label:<60} {what:<6} {median:>8.1f} {high:>8.1f}  {plan}")


if __name__ == "__main__":
    main()
