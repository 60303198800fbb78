"""Catalogue reads on one concert date with 50,000 seats, on MariaDB and Redis.

    .venv/bin/python bench/catalogue.py [--seats 50000] [--rounds 20]

Measures, through Django's test client against the real views (middleware, JWT, queue token):
- the seat map (all seats, and ?status=AVAILABLE) with the cache cold (the date's map version bumped
  before every request, as a seat change does) and warm;
- the dates and concert-detail endpoints (they read the database on every request: remaining seats
  change with every hold, so they are not cached);
then the available-seat query (`selectors.available_seats`) with and without the `seat_date_status`
index, EXPLAIN and timings side by side, mid-sale and late in the sale. Other dates of the same
concert (copies of the first, --other-dates) fill the seat table as production would.

Uses a scratch database `bench_catalogue` on 127.0.0.1 (created and dropped) and Redis db 13.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import drop_database, scratch_env, setup_django

DB_NAME, REDIS_DB = "bench_catalogue", 13


def timed(fn: Callable[[], object], rounds: int, before: Callable[[], None] | None = None) -> list[float]:
    """Milliseconds per call; `before` runs outside the timing (e.g. to drop the cache)."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--other-dates", type=int, default=4, help="more dates of as many seats, in the same table")
    args = parser.parse_args()

    env = scratch_env(DB_NAME, REDIS_DB, QUEUE_TOKEN_TTL_SECONDS="3600")
    setup_django(env)
    try:
        run(args.seats, args.rounds, args.other_dates)
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(env)


def run(seat_count: int, rounds: int, other_dates: int) -> None:
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework.test import APIClient

    from apps.accounts.services import issue_tokens
    from apps.common.redis import get_redis
    from apps.concerts import selectors, services
    from apps.concerts.models import ConcertDate, Inventory, Seat, SeatStatus
    from apps.concerts.serializers import SeatSerializer
    from apps.queue.services import issue_access_token
    from tests.factories import UserFactory

    get_redis().flushdb()  # Redis db 13 is this benchmark's own scratch db

    per_row = 100
    rows, rest = divmod(seat_count, per_row)
    sections = 10
    layout = [
        {"name": f"S{i + 1}", "rows": rows // sections + (1 if i < rows % sections else 0), "seats_per_row": per_row,
         "price": f"{150000 - i * 10000}.00"}
        for i in range(sections)
    ]  # fmt: skip
    layout = [section for section in layout if section["rows"]]
    if rest:
        layout.append({"name": "Balcony", "rows": 1, "seats_per_row": rest, "price": "30000.00"})

    start = time.perf_counter()
    venue = services.create_venue(name="Bench Arena", address="Loopback", layout=layout)
    concert = services.create_concert(venue=venue, name="Bench Tour", artist="Bench")
    date = services.create_concert_date(
        concert=concert,
        starts_at=timezone.now() + dt.timedelta(days=30),
        booking_opens_at=timezone.now() - dt.timedelta(hours=1),
    )
    seed_seconds = time.perf_counter() - start

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

    # Mid-sale: 60 % reserved, 4 % held, 2 % held with an expired hold (reads AVAILABLE), 34 % free.
    ids = list(Seat.objects.filter(concert_date=date).order_by("seat_num").values_list("pk", flat=True))
    n = len(ids)
    reserved, held, expired = (
        ids[: n * 60 // 100],
        ids[n * 60 // 100 : n * 64 // 100],
        ids[n * 64 // 100 : n * 66 // 100],
    )

    def set_status(seat_ids: list[int], status: str, held_until: dt.datetime | None = None) -> None:
        for i in range(0, len(seat_ids), 5000):
            Seat.objects.filter(pk__in=seat_ids[i : i + 5000]).update(status=status, held_until=held_until)

    set_status(reserved, SeatStatus.RESERVED)
    set_status(held, SeatStatus.HELD, timezone.now() + dt.timedelta(hours=1))
    set_status(expired, SeatStatus.HELD, timezone.now() - dt.timedelta(minutes=1))
    Inventory.objects.filter(concert_date=date).update(remaining=n - len(reserved) - len(held) - len(expired))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE seat")

    user = UserFactory()
    client = APIClient(SERVER_NAME="localhost")
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
        HTTP_X_QUEUE_TOKEN=issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
    )
    seats_url = f"/api/concerts/{concert.pk}/dates/{date.pk}/seats"
    free_expected = n - len(reserved) - len(held)

    def get(url: str, expect_len: int | None = None) -> Callable[[], None]:
        response = client.get(url)  # checked once, outside the timing: parsing 4 MB is the client's cost
        assert response.status_code == 200, response.content[:300]
        assert expect_len is None or len(response.json()) == expect_len

        def call() -> None:
            assert client.get(url).status_code == 200

        return call

    def drop_cache() -> None:
        selectors.invalidate_seat_map(concert_date_id=date.pk)

    def queries(fn: Callable[[], None]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    def size(url: str) -> str:
        return f"{len(client.get(url).content) / 1024:,.0f} KiB"

    get(seats_url, n)()  # warm the process (imports, connections) before anything is timed
    cases = [
        ("seat map, all seats", "cold", get(seats_url, n), drop_cache, size(seats_url)),
        ("seat map, all seats", "warm", get(seats_url, n), None, size(seats_url)),
        ("seat map, ?status=AVAILABLE", "cold", get(seats_url + "?status=AVAILABLE", free_expected), drop_cache,
         size(seats_url + "?status=AVAILABLE")),
        ("seat map, ?status=AVAILABLE", "warm", get(seats_url + "?status=AVAILABLE", free_expected), None,
         size(seats_url + "?status=AVAILABLE")),
        ("dates of the concert", "db", get(f"/api/concerts/{concert.pk}/dates"), None, ""),
        ("concert detail", "db", get(f"/api/concerts/{concert.pk}"), None, ""),
    ]  # fmt: skip

    total_rows = Seat.objects.count()
    print(f"\nseeded 1 date with {n:,} seats (venue, concert, date, seats, inventory) in {seed_seconds:.2f} s;"
          f" the seat table holds {total_rows:,} rows ({other_dates} more dates)")  # fmt: skip
    print(f"mid-sale: {len(reserved):,} reserved, {len(held):,} held, {len(expired):,} held past expiry, "
          f"{free_expected:,} available to read\n")  # fmt: skip
    print(f"{'endpoint':<30} {'cache':<6} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'body':>10}")
    for name, cache_state, fn, before, body in cases:
        samples = timed(fn, rounds if cache_state == "cold" else rounds * 3, before)
        if before:
            before()
        count = queries(fn)
        print(
            f"{name:<30} {cache_state:<6} {statistics.median(samples):>8.1f} {p95(samples):>8.1f} {count:>8} {body:>10}"
        )

    rows_now = selectors.seat_map(concert_date_id=date.pk)
    build = timed(lambda: selectors._build_seat_map(date.pk), 5)
    drf = timed(lambda: SeatSerializer(rows_now, many=True).data, 3)
    print(f"\n{'  of which: map built from the database':<45} {statistics.median(build):>8.1f} ms")
    print(f"{'  (not used) the map through DRF SeatSerializer':<45} {statistics.median(drf):>8.1f} ms")

    # --- The available-seat query with and without its index --------------------------------------
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
    set_status(ids[n * 66 // 100 : n * 98 // 100], SeatStatus.RESERVED)  # late in the sale: 2 % left + expired
    free = selectors.available_seats(concert_date_id=date.pk).count()
    table += with_and_without(f"late ({free:,} free)")

    print(f"\n{'available_seats(concert_date_id)':<60} {'what':<6} {'p50 ms':>8} {'p95 ms':>8}  EXPLAIN")
    for label, what, median, high, plan in table:
        print(f"{label:<60} {what:<6} {median:>8.1f} {high:>8.1f}  {plan}")


if __name__ == "__main__":
    main()
