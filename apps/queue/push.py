"""The line told at once: `GET /api/queue/events?concert_date_id=N[&number=K]`, a server-sent event stream
that says when a date sells out (and when seats come back), and when a waiter's turn has come, served by
a process of its own.

A waiter learns the date sold out from a status poll, and the line's budget (QUEUE_POLL_BUDGET) puts
the back of a 15,000-long line minutes between polls: polling everyone within 30 s of the last seat
would cost ~500 polls a second for as long as the end is uncertain. A stream costs nothing while
nothing happens, so each waiting page holds one while it waits, and this process pushes the news to
all of them in the same second.

What it knows, it reads as the status poll does: the date's seat counts in Redis
(`apps.concerts.seat_counts`, rebuilt from the database when missing). Per date with listeners, one
task reads them every QUEUE_EVENTS_CHECK_SECONDS and sends an event to every listener when
`sold_out` changes; a process holds one such task per date however many listen. The news is public
(a date's availability is on its public page), so the stream asks for no token; the status poll stays
the source of truth for a buyer's own place and admission, and a page without the stream (no push
process: under `make run` Django answers the path 404) polls as before.

A page may give its number in line (`&number=`, from its `WAITING` answer): the same read fetches how
far admission has gone (`admitted_through`, stored by the admission run), and a listener whose number it
reached gets `event: turn` once, so the page polls for its token at once instead of at its next poll.
Numbers wait in a heap per date: a read pops only the listeners whose turn came.

The stream: `event: seats` with `{"concert_date_id", "sold_out", "seats_available", "seats_held"}` at
once (with a `retry:` of 5-20 s for the page's reconnect), then one each time `sold_out` changes;
`event: turn` with `{"concert_date_id", "number"}` once admission reaches the listener's number; and a
`: keep-alive` comment every QUEUE_EVENTS_KEEPALIVE_SECONDS. Errors in the API's shape: 400 (a bad id or
number), 404 (another path, an unknown date), 405, 503 (Redis or the database down; a process over
QUEUE_EVENTS_MAX_CONNECTIONS).

A plain ASGI application (no framework: each idle listener is one suspended task), served by Granian
(`scripts/push_server.py`); nginx sends the path here (deploy/nginx).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import math
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
django.setup()

from django.conf import settings  # noqa: E402 (after setup)
from django.db import close_old_connections  # noqa: E402

from apps.common.error_codes import ErrorCode  # noqa: E402
from apps.common.exceptions import error_body  # noqa: E402
from apps.common.redis import get_redis  # noqa: E402
from apps.common.schema import plain_id  # noqa: E402
from apps.concerts import seat_counts  # noqa: E402
from apps.concerts.selectors import date_facts  # noqa: E402

from .keys import QueueKeys  # noqa: E402

logger = logging.getLogger(__name__)

PATH = "/api/queue/events"
HEALTH_PATH = "/api/health/live"
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _event(name: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


@dataclass(frozen=True)
class Seats:
    concert_date_id: int
    sold_out: bool
    seats_available: int
    seats_held: int
    admitted_through: int = 0  # the highest number in line admitted so far (0: none); not in the event

    def event(self) -> bytes:
        return _event(b"seats", {"concert_date_id": self.concert_date_id, "sold_out": self.sold_out,
                                 "seats_available": self.seats_available, "seats_held": self.seats_held})  # fmt: skip


@dataclass(frozen=True)
class Turn:
    """A listener's number has been admitted: its page asks for its status now."""

    concert_date_id: int
    number: int

    def event(self) -> bytes:
        return _event(b"turn", {"concert_date_id": self.concert_date_id, "number": self.number})


Event = Seats | Turn


def read_seats(concert_date_id: int) -> Seats:
    """The date's counts as the status poll reads them, and how far admission has gone through the line
    (`admitted_through`, set by the admission run), in one round trip (blocking: run in a thread)."""
    close_old_connections()  # a connection the database dropped (a restart) is not reused
    pipe = get_redis().pipeline(transaction=False)
    seat_counts.ask_counts(pipe, concert_date_id=concert_date_id)
    pipe.hget(QueueKeys(concert_date_id).control, "admitted_through")
    reply, through = pipe.execute()
    counts = seat_counts.read_or_rebuild(concert_date_id=concert_date_id, reply=reply)
    return Seats(concert_date_id, counts.sold_out, max(counts.available, 0), max(counts.held, 0),
                 int(float(through or 0)))  # fmt: skip


def date_exists(concert_date_id: int) -> bool:
    close_old_connections()
    return date_facts(concert_date_id) is not None


@dataclass
class _Watch:
    """One date's listeners, and the task that reads its counts for all of them. Listeners that gave their
    number wait in `turns` too, lowest number first, until admission passes it."""

    listeners: set[asyncio.Queue[Event]] = field(default_factory=set)
    turns: list[tuple[int, int, asyncio.Queue[Event]]] = field(default_factory=list)  # a heap
    last: Seats | None = None
    read_at: float = -math.inf  # the loop's time of `last`'s read
    task: asyncio.Task[None] | None = None

    def tell_turns(self, concert_date_id: int) -> None:
        """A turn event to each listener whose number admission has reached (once: it leaves the heap)."""
        through = self.last.admitted_through if self.last is not None else 0
        while self.turns and self.turns[0][0] <= through:
            number, _, queue = heapq.heappop(self.turns)
            if queue in self.listeners:
                queue.put_nowait(Turn(concert_date_id, number))


class Hub:
    """The dates this process watches: a reading task per date while anyone listens."""

    def __init__(self, *, read: Callable[[int], Seats], interval: float) -> None:
        self.read, self.interval = read, interval
        self.watches: dict[int, _Watch] = {}
        self._order = itertools.count()  # breaks ties in a date's heap of numbers

    def listeners(self) -> int:
        return sum(len(watch.listeners) for watch in self.watches.values())

    def watched(self, concert_date_id: int) -> bool:
        """Someone listens to the date here: it exists (its first listener was checked)."""
        return concert_date_id in self.watches

    async def listen(self, concert_date_id: int, number: int | None = None) -> tuple[Seats, asyncio.Queue[Event]]:
        """The date's state now and the queue its changes arrive on. The state is the date's reader's
        when it read within the last interval (what a read would give, and exactly what its changes
        are told against); else a read of its own, so a listener never starts from an older state
        than a poll would give. With a `number` (the waiter's in line), a `Turn` arrives on the queue
        once admission has reached it: at once when it already has. Raises what the read raises
        (Redis, the database)."""
        loop = asyncio.get_running_loop()
        watch = self.watches.get(concert_date_id)
        if watch is not None and watch.last is not None and loop.time() - watch.read_at <= self.interval:
            now = watch.last
        else:
            now = await asyncio.to_thread(self.read, concert_date_id)
            watch = self.watches.setdefault(concert_date_id, _Watch())
            if watch.last is None:
                watch.last, watch.read_at = now, loop.time()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        watch.listeners.add(queue)
        if number is not None:
            if number <= now.admitted_through:
                queue.put_nowait(Turn(concert_date_id, number))
            else:
                heapq.heappush(watch.turns, (number, next(self._order), queue))
        if watch.task is None:
            watch.task = asyncio.create_task(self._watch(concert_date_id, watch))
        return now, queue

    def leave(self, concert_date_id: int, queue: asyncio.Queue[Event]) -> None:
        watch = self.watches.get(concert_date_id)
        if watch is None:
            return
        watch.listeners.discard(queue)  # its number stays in the heap until passed (or half the heap left)
        if len(watch.turns) > 2 * len(watch.listeners) + 64:
            watch.turns = [turn for turn in watch.turns if turn[2] in watch.listeners]
            heapq.heapify(watch.turns)
        if not watch.listeners:
            if watch.task is not None:
                watch.task.cancel()
            del self.watches[concert_date_id]

    async def _watch(self, concert_date_id: int, watch: _Watch) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                seats = await asyncio.to_thread(self.read, concert_date_id)
            except Exception:  # Redis or the database down: the listeners keep what they had
                logger.warning("queue events: reading date %s failed", concert_date_id, exc_info=True)
                continue
            if watch.last is None or seats.sold_out != watch.last.sold_out:
                for queue in watch.listeners:
                    queue.put_nowait(seats)
            watch.last, watch.read_at = seats, asyncio.get_running_loop().time()
            watch.tell_turns(concert_date_id)


HUB = Hub(read=read_seats, interval=settings.QUEUE_EVENTS_CHECK_SECONDS)
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx passes each event on at once
]


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await events(scope, receive, send, hub=HUB)


async def events(scope: Scope, receive: Receive, send: Send, *, hub: Hub) -> None:
    if scope["path"] == HEALTH_PATH:  # the container's health check (scripts/healthcheck.py push)
        await _json(send, 200, {"status": "ok"})
        return
    if scope["path"] != PATH:
        await _error(send, 404, ErrorCode.NOT_FOUND, "Not found.")
        return
    if scope["method"] not in ("GET", "HEAD"):
        await _error(send, 405, ErrorCode.METHOD_NOT_ALLOWED, f"Method {scope['method']} is not allowed.",
                     headers=[(b"allow", b"GET, HEAD")])  # fmt: skip
        return
    query = _query(scope.get("query_string", b""))
    if query is None:
        await _error(send, 400, ErrorCode.VALIDATION_ERROR, "Give one concert_date_id, and at most one number.",
                     {"concert_date_id": ["A positive integer, once."],
                      "number": ["Optional: a positive integer, once."]})  # fmt: skip
        return
    concert_date_id, number = query
    if hub.listeners() >= settings.QUEUE_EVENTS_MAX_CONNECTIONS:
        await _unavailable(send, "This process holds as many streams as it may.")
        return
    try:
        if not hub.watched(concert_date_id) and not await asyncio.to_thread(date_exists, concert_date_id):
            await _error(send, 404, ErrorCode.NOT_FOUND, "Concert date not found.")
            return
        now, queue = await hub.listen(concert_date_id, number)
    except Exception:
        logger.warning("queue events: date %s unavailable", concert_date_id, exc_info=True)
        await _unavailable(send, "The line's state cannot be read now; poll the status.")
        return
    try:
        await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        # A stream that drops is reopened by the page's EventSource after `retry` ms: spread over 5-20 s,
        # so a restarted push process is not met by every page of the line in the same second.
        retry = b"retry: %d\n" % random.randint(5_000, 20_000)
        await send({"type": "http.response.body", "body": retry + now.event(), "more_body": True})
        await _stream(receive, send, queue)
    except (OSError, RuntimeError):  # the listener went away mid-write (the server says so either way)
        logger.debug("queue events: a listener of date %s went away", concert_date_id, exc_info=True)
    finally:
        hub.leave(concert_date_id, queue)


async def _stream(receive: Receive, send: Send, queue: asyncio.Queue[Event]) -> None:
    """Each change, and a keep-alive when nothing happened for a while, until the listener goes."""
    gone = asyncio.ensure_future(_disconnected(receive))
    change = asyncio.ensure_future(queue.get())  # kept across keep-alives: one wait per change, not per beat
    try:
        while True:
            done, _ = await asyncio.wait(
                {gone, change}, timeout=settings.QUEUE_EVENTS_KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return
            if change in done:
                body = change.result().event()
                change = asyncio.ensure_future(queue.get())
            else:
                body = b": keep-alive\n\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})
    finally:
        gone.cancel()
        change.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _query(query_string: bytes) -> tuple[int, int | None] | None:
    """(concert_date_id, number or None) from the query; None when it is not exactly that."""
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    dates, numbers = query.get("concert_date_id", []), query.get("number", [])
    if not set(query) <= {"concert_date_id", "number"} or len(dates) != 1 or len(numbers) > 1:
        return None
    concert_date_id = plain_id(dates[0])
    number = plain_id(numbers[0]) if numbers else None
    if concert_date_id is None or (numbers and number is None):
        return None
    return concert_date_id, number


async def _error(
    send: Send,
    status: int,
    code: ErrorCode,
    message: str,
    details: dict[str, Any] | None = None,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    await _json(send, status, error_body(code, message, details), headers=headers)


async def _json(
    send: Send, status: int, document: dict[str, Any], *, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers]})  # fmt: skip
    await send({"type": "http.response.body", "body": json.dumps(document).encode()})


async def _unavailable(send: Send, message: str) -> None:
    await _error(send, 503, ErrorCode.SERVICE_UNAVAILABLE, message, headers=[(b"retry-after", b"5")])


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
