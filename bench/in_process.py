"""What the in-process fast-path benchmarks share: a WSGI environ for one request, serving it with its
status checked, and their table of each route's CPU with its fast path and without, beside the floor."""

from __future__ import annotations

import io
import statistics
from collections.abc import Callable, Iterable

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
