"""What the in-process benchmarks of the booking path share: a WSGI environ for one request, admitted
buyers and their holds' and payments' requests, serving a request with its status checked, and the fast
paths' table of each route's CPU with its fast path and without, beside the floor."""

from __future__ import annotations

import io
import json
import statistics
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

Blocks = dict[tuple[str, str], list[float]]  # (route, "fast path" | "full stack") -> CPU µs a request, by block


def environ(
    method: str, path: str, *, query: str = "", body: bytes = b"", headers: dict[str, str] | None = None
) -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_ACCEPT": "application/json",
    }  # fmt: skip
    if body:
        env.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    env.update(headers or {})
    return env


def admitted_buyers(date: Any, count: int, *, prefix: str) -> Iterator[dict[str, str]]:
    """`count` new buyers of `date` with money in their wallets, each given as the headers of their
    requests (an access token and a queue token for the date, made as each is taken). Django must be
    set up (`bench.scratch.scratch_django`)."""
    from apps.accounts.models import User
    from apps.accounts.services import issue_tokens
    from apps.queue.tokens import issue_access_token

    User.objects.bulk_create(
        User(email=f"{prefix}-{i}@example.com", name="Buyer", email_verified=True, balance=Decimal(10**9))
        for i in range(count)
    )
    for user in User.objects.filter(email__startswith=f"{prefix}-").order_by("pk"):
        yield {
            "HTTP_AUTHORIZATION": f"Bearer {issue_tokens(user=user)['access']}",
            "HTTP_X_QUEUE_TOKEN": issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
        }


def hold_request(concert_date_id: int, seat_ids: list[int], headers: dict[str, str]) -> tuple[dict, str]:
    """A hold of `seat_ids` (`POST /api/reservations`) and the status it must answer (for `serve`)."""
    body = json.dumps({"concert_date_id": concert_date_id, "seat_ids": seat_ids}).encode()
    return environ("POST", "/api/reservations", body=body, headers=headers), "201 Created"


def payment_request(reservation_id: int, headers: dict[str, str]) -> tuple[dict, str]:
    """A payment of a reservation (`POST /api/payments`) and the status it must answer (for `serve`)."""
    body = json.dumps({"reservation_id": reservation_id}).encode()
    return environ("POST", "/api/payments", body=body, headers=headers), "201 Created"


def serve(handler: Callable[..., Iterable[bytes]], env: dict, expect: str) -> bytes:
    """One request through the WSGI `handler`, and its body; exits unless it answered `expect` (e.g.
    "201 Created"), so that a block that fell through to an error is not counted as cheap."""
    statuses: list[str] = []
    body = b"".join(handler(env, lambda status, headers, exc_info=None: statuses.append(status)))
    if expect not in statuses:
        raise SystemExit(f"{env['REQUEST_METHOD']} {env['PATH_INFO']}: expected {expect}, got {statuses}: {body!r}")
    return body


def report(blocks: Blocks, rows: list[tuple[str, str]], *, rounds: int, requests: int) -> None:
    """The median block of each of `rows` ((route, label)) with and without its fast path, what it saved,
    and each one's ratio to the floor (the median of the "floor" blocks of both modes)."""
    floor = statistics.median(blocks[("floor", "fast path")] + blocks[("floor", "full stack")])
    print(f"CPU per request, median of {rounds} blocks of {requests} (µs); ÷ floor = floor's CPU / the row's\n")
    print(
        f"{'request':30} {'full stack':>11} {'fast path':>10} {'saved':>7} {'÷ floor, full':>14} {'÷ floor, fast':>14}"
    )
    for kind, label in rows:
        full = statistics.median(blocks[(kind, "full stack")])
        fast = statistics.median(blocks[(kind, "fast path")])
        print(
            f"{label:30} {full:11.0f} {fast:10.0f} {full - fast:7.0f}  {floor / full:13.3f} {floor / fast:14.3f}"
            f"   ({(full - fast) / full:.0%} saved)"
        )
    print(f"{'GET /api/health/live (floor)':30} {floor:11.0f}")
