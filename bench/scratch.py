"""The scratch environment every benchmark runs in: its own MariaDB database and Redis db, set up
before and removed after, so a benchmark never touches another one's data (or the tests').

    with scratch_django("bench_profile", 10, THROTTLE_HOLD="100000000/min") as env:
        date = bench_date(seats=2000)
        ...  # `env` is the environment for the benchmark's own server processes

Django is set up in this process (settings from the environment, as in production) and migrated;
on the way out connections are closed, the database is dropped and the Redis db flushed."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The booking path's rate limits (per buyer and per IP, holds and payments) lifted, for the benchmarks
# that hold and pay more often than one buyer or one address ever may.
BOOKING_RATES_LIFTED = {
    "THROTTLE_HOLD": "100000000/min",
    "THROTTLE_HOLD_IP": "100000000/min",
    "THROTTLE_PAY": "100000000/min",
    "THROTTLE_PAY_IP": "100000000/min",
}


def scratch_env(db_name: str, redis_db: int, **extra: str) -> dict[str, str]:
    """Environment for a benchmark's Django processes: its own database and Redis db, production
    settings (DEBUG off) on the loopback interface; `extra` overrides any knob."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="ticketing.settings.base",
        DATABASE_URL=f"mysql://root:@127.0.0.1:3306/{db_name}",
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        DEBUG="False",
        SECRET_KEY="bench-secret-key-bench-secret-key-bench-secret-key",
        TICKET_SIGNING_KEY="YmVuY2gtdGlja2V0LXNpZ25pbmcta2V5LTMyLWJ5dGU=",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",
        LOG_LEVEL="WARNING",
        GUNICORN_ACCESS_LOG="",  # gunicorn reads gunicorn.conf.py from the project directory: no access log
    )
    env.update(extra)
    return env


def _admin_execute(env: dict[str, str], statement: str) -> None:
    from urllib.parse import urlsplit

    import MySQLdb

    url = urlsplit(env["DATABASE_URL"])  # the machine's server, or a fault run's own (scripts/faults.py)
    admin = MySQLdb.connect(host=url.hostname or "127.0.0.1", port=url.port or 3306, user="root", passwd="")
    try:
        admin.cursor().execute(statement.format(db=env["DATABASE_URL"].rsplit("/", 1)[1]))
    finally:
        admin.close()


def setup_django(env: dict[str, str]) -> None:
    """Create the scratch database (afresh), point this process at it, set Django up and migrate."""
    _admin_execute(env, "DROP DATABASE IF EXISTS `{db}`")
    _admin_execute(env, "CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database(env: dict[str, str]) -> None:
    _admin_execute(env, "DROP DATABASE IF EXISTS `{db}`")


@contextmanager
def scratch_django(db_name: str, redis_db: int, **extra: str) -> Iterator[dict[str, str]]:
    """Django set up on a fresh scratch database and an empty Redis db for the block; both removed
    afterwards, also when the benchmark fails. Yields the environment for child processes."""
    env = scratch_env(db_name, redis_db, **extra)
    setup_django(env)
    from django.db import connections

    from apps.common.redis import get_redis

    get_redis().flushdb()
    try:
        yield env
    finally:
        connections.close_all()
        get_redis().flushdb()
        drop_database(env)


def bench_date(*, seats: int, price: str = "10", seats_per_row: int = 100, starts_in_days: int = 7) -> Any:
    """A concert date open for booking with at least `seats` seats in one section "A" (rows of
    `seats_per_row`), made through the catalogue services like any other date."""
    from django.utils import timezone

    from apps.concerts import services as catalogue

    rows = max(1, -(-seats // seats_per_row))
    layout = [{"name": "A", "rows": rows, "seats_per_row": seats_per_row, "price": price}]
    venue = catalogue.create_venue(name="Bench Hall", address="Loopback", layout=layout)
    concert = catalogue.create_concert(venue=venue, name="Bench Tour", artist="Bench")
    return catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=starts_in_days))
