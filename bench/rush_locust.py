"""The buyers of the rush, as a Locust scenario (run by bench/rush.py; not on its own).

Open model: a LoadTestShape spawns one Locust user per buyer at the buyer's arrival time, drawn before
the run and independent of how fast the server answers. Each user walks one buyer's journey once and then
idles, so the user count is the number of buyers who have arrived. The plan (who arrives when, with which
access token) comes from the JSON file named by RUSH_PLAN; what each buyer saw goes to RUSH_RESULT.

A buyer enters the queue of the date (before the opening: the pre-queue, with a draw nonce of its own),
polls the status exactly as the server says (`poll_after_seconds`), dropping its idle connection while it
waits long (as browsers do), and stops when told SOLD_OUT. While it waits it also listens to the date's
sold-out stream (GET /api/queue/events, server-sent events), as the page's EventSource does: the stream's
`sold_out` tells it SOLD_OUT at once, between two polls; given the buyer's number in line (once a poll
has given one), a `turn` event says admission reached it, and the buyer polls at once for its token
(while such a stream is open, the buyer polls half as often as told, at most a minute later, and at once
when the stream drops, as the page does). A server without the stream (404) is only polled.
Once admitted it reads the seat layout and asks for 1-4 seats: most buyers with best available
(`quantity`, sometimes a section), the rest by picking adjacent seats on the map (the seat status) in the
best (dearest) sections, retrying with other seats on SEAT_UNAVAILABLE after re-reading the status with
If-None-Match, and turning to best available after two refusals. When no seat is free but some are held,
it re-reads the status every few seconds until held seats come back, the date is sold out or its patience
ends. Then it pays; some abandon their hold.
A 429 or 503 is honoured (Retry-After) and retried a bounded number of times.

Each buyer speaks HTTP/1.1 over a raw gevent socket of its own (`Browser`: one kept-alive connection,
dropped before a long wait; gzip unpacked; a request whose reused connection broke before any answer
sent once more on a new one, as browsers do), and records every request as Locust's request event.
Locust's own HTTP client (geventhttpclient) cost 2-2.5 times the CPU a request here, on the same 2
cores as the service it measures.
"""

from __future__ import annotations

import base64
import bisect
import gc
import gzip
import json
import math
import os
import random
import resource
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
import gevent.socket
from locust import LoadTestShape, User, events, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["RUSH_PLAN"]).read_text()) if os.environ.get("RUSH_PLAN") else {}
# This process's share when the buyers are split over several (bench/rush.py --loadgen-processes): every
# PARTS-th buyer from the PART-th, with their arrival times, so each process spawns its own in order.
PART, PARTS = int(os.environ.get("RUSH_PART", "0")), max(1, int(os.environ.get("RUSH_PARTS", "1")))
if PLAN and PARTS > 1:
    PLAN["buyers"], PLAN["arrivals"] = PLAN["buyers"][PART::PARTS], PLAN["arrivals"][PART::PARTS]
RESULT_PATH = os.environ.get("RUSH_RESULT", "")
PROFILE_PATH = os.environ.get("RUSH_PROFILE", "")  # where the load generator's own profile goes, if asked
BUCKET_SECONDS = 5

_next_buyer = 0
_started_at = time.time()
journeys: list[dict[str, Any]] = []
latencies: dict[str, list[float]] = defaultdict(list)
timeline: dict[tuple[str, int], list[float]] = defaultdict(list)  # (endpoint, bucket) -> latencies in ms
statuses: dict[str, Counter] = defaultdict(Counter)
missing_retry_after: Counter = Counter()
server_errors: list[str] = []
finished = 0
# What the server turned out to support: status answers with seats_available (it tells SOLD_OUT),
# best-available holds (False after a 400 to a `quantity` body: every buyer then picks on the map), and the
# sold-out stream (None until one answers: True after its first event, False after a 404 or 400, when the
# later buyers only poll).
server_supports: dict[str, bool | None] = {"sold_out": False, "best_available": True, "sold_out_stream": None}
# The stream's opening is one request in the statistics (its time: until the first event); what follows
# on the open stream is not a request.
EVENTS_NAME = "GET /api/queue/events"
# Streams open at once in this process. Every page holds one in a real on-sale (each on its own machine);
# here the generator holds them all within one process's open-files limit (split evenly when the buyers
# are), keeping room for the active buyers' connections. A waiter that finds no room opens its stream
# at a later poll.
streams_open = 0
MAX_STREAMS = max(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 5_000) // PARTS  # the same in all
# The seat layout, parsed once per ETag: every buyer still downloads it, as a browser would.
_layouts: dict[str, list[dict[str, Any]]] = {}
# A waiting buyer told to come back in this many seconds or more drops its idle connection first
# (browsers drop idle ones; nginx closes them after its keepalive_timeout of 30 s anyway).
IDLE_CLOSE_SECONDS = 20.0
# As the page does (apps/web/static/web/lib/api.js): an access token this close to expiry is renewed
# before a request rather than after the request's 401.
RENEW_BEFORE_SECONDS = 120.0
# As the page does (waiting-room.js): a page whose stream will tell it its turn polls half as often as told,
# and at most this much later.
TOLD_TURN_MAX_EXTRA_SECONDS = 60.0


def _stream_closed() -> None:
    global streams_open
    streams_open -= 1


def seconds_left(access: str) -> float:
    """Seconds until the access token's `exp` (read from its payload, not verified)."""
    try:
        payload = access.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"] - time.time()
    except (IndexError, ValueError, KeyError, TypeError):
        return float("inf")


_profiler = None

# The generator's own lag: a greenlet asks to wake every LAG_TICK_SECONDS and records how late it woke,
# per window. A response that has arrived waits that long before a buyer reads it (and its time is
# taken), so a window whose lag is seconds measured the generator, not the service.
LAG_TICK_SECONDS = 0.1
loop_lag: dict[int, float] = defaultdict(float)  # window -> the longest lag in it, ms


def window_now() -> int:
    """The BUCKET_SECONDS window the run is in, counted from the plan's t0."""
    return int((time.time() - PLAN["t0"]) // BUCKET_SECONDS)


def _watch_loop() -> None:
    while True:
        before = time.perf_counter()
        gevent.sleep(LAG_TICK_SECONDS)
        late = (time.perf_counter() - before - LAG_TICK_SECONDS) * 1000
        bucket = window_now()
        loop_lag[bucket] = max(loop_lag[bucket], late)


# The generator's own garbage collector. A full collection (Python's generation 2) walks every object
# the process holds, 20,000 buyers' greenlets, sockets and journeys, and stops every buyer while it
# runs: 0.7-1.3 s each in the sale's middle of a full rush (20 of them, 11.8 s in all), after which the
# buyers' delayed requests reach the service together, and every answer that waited is timed late.
# Automatic full collections are off unless RUSH_FULL_GC is set (bench/rush.py --loadgen-full-gc); the
# young generations are still collected, so what is freed by reference counts or dies young is freed as
# before, and only a cycle that outlived two collections stays until exit (a bounded run on a machine
# with room for it). Each collection's pause is recorded either way.
FULL_GC = bool(os.environ.get("RUSH_FULL_GC"))
if PLAN and not FULL_GC:
    gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 1_000_000_000)
gc_pause: dict[int, float] = defaultdict(float)  # window -> the longest collection in it, ms
gc_full: list[float] = [0, 0.0]  # full collections, and the ms they took
_gc_began = 0.0


def _on_collect(phase: str, info: dict[str, int]) -> None:
    global _gc_began
    if phase == "start":
        _gc_began = time.perf_counter()
        return
    took = (time.perf_counter() - _gc_began) * 1000
    bucket = window_now()
    gc_pause[bucket] = max(gc_pause[bucket], took)
    if info["generation"] == 2:
        gc_full[0] += 1
        gc_full[1] += took


if PLAN:
    gc.callbacks.append(_on_collect)


@events.test_start.add_listener
def _on_start(environment: Any, **_: Any) -> None:
    global _started_at, _profiler
    _started_at = time.time()
    gevent.spawn(_watch_loop)
    if PROFILE_PATH:
        import cProfile

        _profiler = cProfile.Profile(time.process_time)  # CPU, not the wall clock greenlets sleep on
        _profiler.enable()


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response: Any, exception: Any, **_: Any) -> None:
    code = getattr(response, "status_code", 0) or 0
    if exception is not None and not code:
        statuses[name]["transport"] += 1
        return
    latencies[name].append(response_time)
    timeline[(name, window_now())].append(response_time)
    statuses[name][code] += 1
    if code >= 500 and code != 503:
        server_errors.append(f"{name} {code} {(response.text or '')[:200]}")
    if code in (429, 503) and not response.headers.get("Retry-After"):
        missing_retry_after[name] += 1


@events.test_stop.add_listener
def _on_stop(environment: Any, **_: Any) -> None:
    if _profiler is not None:
        _profiler.disable()
        _profiler.dump_stats(PROFILE_PATH)
    if not RESULT_PATH:
        return
    result = {
        "started_at": _started_at,
        "server_supports": server_supports,
        "journeys": journeys,
        "latencies": latencies,
        # Windows of BUCKET_SECONDS, their start in seconds since t0.
        "timeline": [[name, bucket * BUCKET_SECONDS, values] for (name, bucket), values in sorted(timeline.items())],
        "statuses": {name: {str(code): n for code, n in counts.items()} for name, counts in statuses.items()},
        "missing_retry_after": dict(missing_retry_after),
        "server_errors": server_errors[:50],
        # The generator's longest lag (ms) in each window, its start in seconds since t0.
        "loop_lag": [[bucket * BUCKET_SECONDS, round(late, 1)] for bucket, late in sorted(loop_lag.items())],
        # The garbage collector's longest pause (ms) in each window, and its full collections.
        "gc_pause": [[bucket * BUCKET_SECONDS, round(took, 1)] for bucket, took in sorted(gc_pause.items())],
        "gc_full": {
            "automatic": FULL_GC,
            "collections": gc_full[0],
            "ms": round(gc_full[1], 1),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,  # what it kept
        },
    }
    with open(RESULT_PATH, "w") as handle:
        json.dump(result, handle)


class RushShape(LoadTestShape):
    """Users = buyers arrived so far (by the plan's arrival times); stops when every journey has ended."""

    def tick(self) -> tuple[int, float] | None:
        elapsed = time.time() - PLAN["t0"]
        arrived = bisect.bisect_right(PLAN["arrivals"], elapsed)  # the plan's arrivals are sorted
        everyone = len(PLAN["arrivals"])
        if (finished >= everyone) or elapsed > PLAN["budget_seconds"]:
            return None
        return max(arrived, 1 if elapsed >= 0 else 0), 2000


class GiveUp(Exception):
    """The journey cannot go on (transport error, an answer the buyer cannot act on)."""


class SoldOut(Exception):
    """The server said the date is sold out (status SOLD_OUT, entry 409 SOLD_OUT, or the stream)."""


# --- the sold-out stream ----------------------------------------------------------------------------


class Headers(dict):
    """Response headers by lower-case name, read in any case (as the request listener reads Retry-After)."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class Answer:
    """What the journey and the request listener read of a response."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Headers, content: bytes = b"") -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class EventStreamParser:
    """Server-sent events from bytes fed as they come: `feed` returns the events each piece completes, as
    (event name, data). Comments (`: keep-alive`) and other fields are skipped; lines end in LF or CRLF."""

    def __init__(self) -> None:
        self.pending = b""
        self.name, self.data = "", []

    def feed(self, piece: bytes) -> list[tuple[str, str]]:
        *lines, self.pending = (self.pending + piece).split(b"\n")
        if len(self.pending) > 65536:
            raise ValueError("an event stream line longer than 64 KiB")
        events = []
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:  # a blank line ends the event
                if self.data:
                    events.append((self.name or "message", "\n".join(self.data)))
                self.name, self.data = "", []
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    self.name = value
                elif field == "data":
                    self.data.append(value)
        return events


# Connections from one address to one server address and port share one range of ephemeral ports
# (net.ipv4.ip_local_port_range: 28,232 here). The arena's crowd (100,000 buyers, thousands holding a
# stream and more a keep-alive connection) used it up: connect() then spent ~1 ms of kernel CPU searching
# the range and failed with EADDRNOTAVAIL half the time, a transport error after which the buyer gave up.
# Buyers come from many addresses; here connections to a loopback server leave from LOOPBACK_SOURCES
# addresses in turn (127.0.0.0/8 is all loopback on Linux), each with a range of its own, and the port is
# chosen at connect time for the whole address pair (IP_BIND_ADDRESS_NO_PORT).
LOOPBACK_SOURCES = 16
IP_BIND_ADDRESS_NO_PORT = getattr(gevent.socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux 4.2+
_next_source = 0


def loopback_source(host: str) -> str | None:
    """The address the next connection to `host` leaves from: one of LOOPBACK_SOURCES in turn for an IPv4
    loopback server, else None (the system's choice)."""
    global _next_source
    if not host.startswith("127."):
        return None
    _next_source = (_next_source + 1) % LOOPBACK_SOURCES
    return f"127.0.0.{_next_source + 2}"


def open_socket(host: str, port: int, timeout: float) -> Any:
    """A connected socket to (host, port), from `loopback_source(host)` when it names one. Built by hand
    rather than with create_connection's `source_address`: IP_BIND_ADDRESS_NO_PORT must be set between
    socket() and bind(), or bind() would reserve a port of the source address for every destination."""
    source = loopback_source(host)
    if source is None:
        return gevent.socket.create_connection((host, port), timeout=timeout)
    sock = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_STREAM)
    try:
        sock.setsockopt(gevent.socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def connect(base: str, timeout: float) -> Any:
    """A socket to the host of `base` (http or https, not verified); `timeout` bounds the connection and
    each read until the caller changes it."""
    url = urlsplit(base)
    https = url.scheme == "https"
    sock = open_socket(url.hostname or "", url.port or (443 if https else 80), timeout)
    if https:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        try:
            sock = context.wrap_socket(sock, server_hostname=url.hostname)
        except BaseException:
            sock.close()
            raise
    return sock


class Wire:
    """HTTP/1.1 answers read from a raw gevent socket: the status line and headers, then the body (by
    Content-Length, chunked, or to the connection's end) as it comes. No timer, no buffer but the bytes
    not yet read: what a browser's network stack does, at a fraction of a Python HTTP client's CPU."""

    def __init__(self, sock: Any) -> None:
        self.sock, self.buffer = sock, b""
        self.status, self.headers, self.keep_alive = 0, Headers(), False
        self.received = False  # a byte of an answer came on this connection since `received` was reset

    def close(self) -> None:
        self.sock.close()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("the connection closed")
        self.received = True
        self.buffer += data

    def _line(self) -> bytes:
        """One line of the protocol (the head, a chunk's size), without its line end."""
        while b"\n" not in self.buffer:
            if len(self.buffer) > 16384:
                raise ValueError("an HTTP line longer than 16 KiB")
            self._more()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._more()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_head(self) -> None:
        parts = self._line().split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP status line: {b' '.join(parts)[:80]!r}")
        self.status = int(parts[1])
        self.headers = Headers()
        self.keep_alive = parts[0] == b"HTTP/1.1"
        while line := self._line():
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if self.headers.get("connection", "").lower() == "close":
            self.keep_alive = False

    def body(self) -> Iterator[bytes]:
        """The body's bytes as they arrive, until it ends (EOFError if the connection breaks inside a
        chunk or before Content-Length bytes)."""
        if self.status in (204, 304) or 100 <= self.status < 200:
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while size := int(self._line().split(b";")[0], 16):
                yield self._exactly(size)
                self._line()  # the chunk's line end
            self._line()  # the blank line after the last chunk (no trailers are sent here)
            return
        length = self.headers.get("Content-Length")
        if length and length.isdigit():
            yield self._exactly(int(length))
            return
        self.keep_alive = False  # the body ends with the connection
        while True:
            data, self.buffer = self.buffer or self.sock.recv(65536), b""
            if not data:
                return
            yield data

    def text(self, limit: int = 2000) -> str:
        """An error answer's body, its first `limit` bytes (what could be read)."""
        read = b""
        try:
            for data in self.body():
                read += data
                if len(read) >= limit:
                    break
        except (OSError, EOFError, ValueError):
            pass
        return read[:limit].decode("utf-8", "replace")


class EventStream(Wire):
    """One GET of server-sent events: a minimal HTTP/1.1 request, its head, then the body as it comes.
    Open and idle, it is one socket and the one greenlet blocked reading it: no timer once
    `settimeout(None)`."""

    @classmethod
    def open(cls, base: str, path: str, timeout: float) -> EventStream:
        """Connects to the host of `base`, sends the GET and reads the head; `timeout` bounds the
        connection and each read until the caller lifts it."""
        sock = connect(base, timeout)
        try:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {urlsplit(base).netloc}\r\nAccept: text/event-stream\r\n"
                         "Cache-Control: no-cache\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
            stream = cls(sock)
            stream.read_head()
        except BaseException:
            sock.close()
            raise
        return stream


# A kept-alive connection the server closed as the request left: nothing came back. A browser sends
# such a request once more on a new connection, whatever its method (Chromium's ShouldResendRequest:
# a reused connection, no byte of an answer).
STALE_CONNECTION_ERRORS = (EOFError, ConnectionResetError, BrokenPipeError)


class Browser:
    """A buyer's page's HTTP: one kept-alive connection at a time, opened when a request needs one and
    dropped when the page waits long (`close`); JSON bodies; a gzip answer unpacked. A request sent on a
    reused connection that broke before any answer is sent once more on a new one, as browsers do, and
    counted as `resent` under its name (the endpoint table shows it); the second attempt's outcome is
    the request's."""

    def __init__(self, base: str, timeout: float) -> None:
        self.base, self.timeout = base, timeout
        self.host = urlsplit(base).netloc
        self.wire: Wire | None = None

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
            self.wire = None

    def exchange(self, method: str, path: str, name: str, headers: dict[str, str], body: Any) -> Answer:
        """Sends the request and reads its whole answer; raises OSError, EOFError or ValueError when the
        transport fails (the connection is dropped then)."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}",
            "User-Agent: rush-buyer",
            "Accept: application/json",
        ]
        if "Accept-Encoding" not in headers:
            lines.append("Accept-Encoding: gzip, deflate, br")  # what browsers send; the servers here use gzip
        lines += [f"{key}: {value}" for key, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        for attempt in (1, 2):
            reused, wire = self.wire is not None, self.wire
            try:
                if wire is None:
                    wire = self.wire = Wire(connect(self.base, self.timeout))
                wire.received = False
                wire.sock.sendall(request)
                wire.read_head()
                content = b"".join(wire.body())
            except STALE_CONNECTION_ERRORS:
                self.close()
                if not reused or wire.received or attempt == 2:
                    raise
                statuses[name]["resent"] += 1
                continue
            except BaseException:
                self.close()
                raise
            if not wire.keep_alive:
                self.close()
            encoding = wire.headers.get("Content-Encoding", "identity")
            if encoding == "gzip":
                content = gzip.decompress(content)
            elif encoding != "identity":
                raise ValueError(f"{name}: an answer in {encoding!r}, which this client does not unpack")
            return Answer(wire.status, wire.headers, content)
        raise AssertionError("unreachable: the second attempt returns or raises")


class Buyer(User):
    network_timeout = 30.0  # a connection, and each wait for an answer's bytes
    connection_timeout = 30.0

    def on_start(self) -> None:
        global _next_buyer
        self.browser = Browser(self.host, self.network_timeout)
        self.buyer = PLAN["buyers"][_next_buyer]
        _next_buyer += 1
        self.journey: dict[str, Any] = {"user_id": self.buyer["user_id"], "arrived": self.now(), "polls": [],
                                        "hold_attempts": 0, "seat_unavailable": 0}  # fmt: skip
        journeys.append(self.journey)  # recorded at once, so a buyer still waiting when the run ends counts
        self.rng = random.Random(PLAN["seed"] * 1_000_003 + self.buyer["user_id"])
        self.stream: gevent.Greenlet | None = None  # the sold-out stream's listener, while the buyer waits
        self.stream_number: int | None = None  # the number in line the open stream was given
        self.stream_live = False  # the stream answered and is open: it will tell the turn
        self.sold_out_heard = gevent.event.Event()  # set by the stream: the waiting ends at once
        self.turn_heard = gevent.event.Event()  # set by the stream: the buyer polls at once
        self.heard_sold_out_at: float | None = None

    def now(self) -> float:
        return time.time() - PLAN["t0"]

    @task
    def walk(self) -> None:
        global finished
        try:
            self.buy()
        except SoldOut:
            # Told when the stream said so, even with a poll under way then (the page's EventSource).
            if self.sold_out_heard.is_set():
                self.journey["told_sold_out"], self.journey["told_by"] = self.heard_sold_out_at, "stream"
            else:
                self.journey["told_sold_out"] = self.now()
            self.journey.setdefault("outcome", "told sold out")
        except GiveUp as exc:
            self.journey.setdefault("outcome", f"gave up: {exc}")
        finally:
            self.journey["ended"] = self.now()
            finished += 1
            self.browser.close()  # the tab is closed
        while True:  # one journey per buyer: stay idle until the run ends
            gevent.sleep(3600)

    # --- requests -----------------------------------------------------------------------------------

    def send(self, method: str, path: str, name: str, *, headers: dict | None = None, json_body: Any = None,
             ok: tuple[int, ...] = ()) -> Answer:  # fmt: skip
        """One request, recorded as Locust's request event (the statistics and the request listener): a
        5xx other than 503 and not in `ok` is a failure; a transport error is recorded with no answer and
        ends the journey."""
        started = time.perf_counter()
        try:
            answer = self.browser.exchange(method, path, name, headers or {}, json_body)
        except (OSError, EOFError, ValueError) as exc:
            self.environment.events.request.fire(
                request_type=method, name=name, response_time=(time.perf_counter() - started) * 1000,
                response_length=0, response=None, context={}, exception=exc, url=path,
            )  # fmt: skip
            raise GiveUp(f"{name} answered 0") from None
        code = answer.status_code
        failure = None if code in ok or code < 500 or code == 503 else RuntimeError(f"{code}")
        self.environment.events.request.fire(
            request_type=method, name=name, response_time=(time.perf_counter() - started) * 1000,
            response_length=len(answer.content), response=answer, context={}, exception=failure, url=path,
        )  # fmt: skip
        return answer

    def call(self, method: str, path: str, name: str, *, ok: tuple[int, ...], headers: dict | None = None,
             json_body: Any = None, tries: int = 6) -> Answer:  # fmt: skip
        """One request; honours 429/503 Retry-After up to `tries` times; returns the answer."""
        for _ in range(tries):
            if (
                "Authorization" in (headers or {})
                and self.buyer.get("refresh")
                and seconds_left(self.access) < RENEW_BEFORE_SECONDS
            ):
                headers = {**headers, **self.refresh_access()}
            response = self.send(method, path, name, headers=headers, json_body=json_body, ok=ok)
            code = response.status_code
            if code == 401 and self.buyer.get("refresh") and "Authorization" in (headers or {}):
                headers = {**headers, **self.refresh_access()}
                continue
            if code in ok or (400 <= code < 500 and code != 429):
                return response
            if code in (429, 503):
                self.wait_retry_after(response)
                continue
            raise GiveUp(f"{name} answered {code}")
        raise GiveUp(f"{name} still refused after {tries} tries")

    def wait_retry_after(self, response: Any) -> None:
        """A 429 or 503 changed nothing: wait as its Retry-After says (at most 30 s), spread a little."""
        gevent.sleep(min(30.0, float(response.headers.get("Retry-After") or 1)) * self.rng.uniform(1, 1.5))

    def refresh_access(self) -> dict[str, str]:
        """The page's answer to an expired access token: rotate the refresh token once."""
        refresh, self.buyer["refresh"] = self.buyer["refresh"], None
        for _ in range(6):  # a 429 or 503 (with Retry-After) changed nothing: the same token again, later
            response = self.send("POST", "/api/auth/refresh", "POST /api/auth/refresh", json_body={"refresh": refresh})
            if response.status_code not in (429, 503):
                break
            self.wait_retry_after(response)
        if response.status_code != 200:
            raise GiveUp(f"refresh {response.status_code}")
        self.access, self.buyer["refresh"] = response.json()["access"], response.json()["refresh"]
        if hasattr(self, "headers"):
            self.headers.update(self.auth())
        return self.auth()

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    def pause(self, seconds: float) -> None:
        """Wait as the page does; a long wait drops the idle connection first, as a browser would. The
        stream's sold out or turn ends the wait at once."""
        if seconds >= IDLE_CLOSE_SECONDS:
            self.browser.close()
        gevent.wait([self.sold_out_heard, self.turn_heard], timeout=seconds, count=1)
        self.turn_heard.clear()

    # --- the journey --------------------------------------------------------------------------------

    def buy(self) -> None:
        self.access = self.buyer.get("access")
        if not self.access:
            # Many tries: the server hashes a few passwords at a time and answers the rest 429 at once.
            response = self.call("POST", "/api/auth/login", "POST /api/auth/login", ok=(200,), tries=60,
                                 json_body={"email": self.buyer["email"], "password": PLAN["password"]})  # fmt: skip
            if response.status_code != 200:
                raise GiveUp(f"login {response.status_code}")
            self.access, self.buyer["refresh"] = response.json()["access"], response.json()["refresh"]
        state = self.wait_in_line()
        self.journey["admitted"] = self.now()
        self.headers = {**self.auth(), "X-Queue-Token": state["token"]}
        reservation = self.hold()
        if reservation is None:
            self.call("DELETE", PLAN["queue_query"], "DELETE /api/queue", ok=(204,), headers=self.auth())
            return
        self.journey["held"] = True
        self.journey["reservation"] = reservation["id"]
        self.journey["seats"] = len(reservation["seats"])
        if self.rng.random() < PLAN["abandon"]:
            self.journey["outcome"] = "abandoned"
            return
        gevent.sleep(self.rng.uniform(*PLAN["think_pay"]))
        response = self.call("POST", "/api/payments", "POST /api/payments", ok=(201,), headers={
            **self.headers, "Idempotency-Key": f"rush-{reservation['id']}"}, json_body={"reservation_id": reservation["id"]})  # fmt: skip
        if response.status_code == 201:
            self.journey["outcome"] = "paid"
            self.journey["paid"] = self.now()
        else:
            self.journey["outcome"] = f"payment {response.json()['error']['code']}"

    def wait_in_line(self) -> dict[str, Any]:
        nonce = f"rush-{self.rng.getrandbits(64):016x}"
        target = {"concert_id": PLAN["concert_id"], "concert_date_id": PLAN["date_id"], "draw_nonce": nonce}
        while True:
            response = self.call("POST", "/api/queue", "POST /api/queue", ok=(200, 201), headers=self.auth(),
                                 json_body=target)  # fmt: skip
            if response.status_code in (200, 201):
                break
            body = response.json()["error"]
            if body["code"] == "SOLD_OUT":
                server_supports["sold_out"] = True
                raise SoldOut()
            if body["code"] == "BOOKING_CLOSED" and self.now() < PLAN["opens_at"] + 5:
                # Before the pre-queue (or the sale) opens: the page lets the buyer in when it does.
                self.pause(max(1.0, PLAN["opens_at"] - self.now()) + self.rng.uniform(0, 2))
                continue
            raise GiveUp(f"queue entry {body['code']}")
        state = response.json()
        self.journey["entered"] = self.now()
        self.journey["entry_position"] = state.get("position")
        self.journey["prequeue"] = state.get("opens_at") is not None
        if self.journey["prequeue"]:
            self.journey["nonce"] = state.get("draw_nonce") or nonce
        try:
            while state["status"] == "WAITING":
                self.start_listening(state.get("number"))
                wait = state.get("poll_after_seconds") or 5
                if self.stream_live and self.stream_number is not None:  # as the page: the turn will be told
                    wait += min(wait, TOLD_TURN_MAX_EXTRA_SECONDS)
                self.pause(wait)
                if self.sold_out_heard.is_set():
                    break
                sent = math.floor(self.now() * 100) / 100  # a poll answered WAITING: the buyer waited after this
                response = self.call("GET", PLAN["status_query"], "GET /api/queue/status", ok=(200,),
                                     headers=self.auth())  # fmt: skip
                if response.status_code != 200:
                    raise GiveUp(f"status {response.status_code}")
                state = response.json()
                if "seats_available" in state:
                    server_supports["sold_out"] = True
                if state["status"] == "WAITING" and state.get("position") is not None:
                    self.journey["polls"].append([sent, state["position"]])
        finally:
            self.stop_listening()  # admitted, told, or the journey ends: the stream's socket is closed now
        if state["status"] == "SOLD_OUT" or self.sold_out_heard.is_set():  # the page shows what it heard first
            raise SoldOut()
        if state["status"] != "READY":
            raise GiveUp(f"queue status {state['status']}")
        return state

    # --- the sold-out stream ----------------------------------------------------------------------------

    def listen_for_sold_out(self, number: int | None) -> None:
        """The waiting buyer's one stream of the date's events (a greenlet of its own, killed when the buyer
        stops waiting). `sold_out` true tells the buyer SOLD_OUT at once; a `turn` (with the buyer's
        `number`) ends the buyer's pause before the next poll. The opening is recorded as one request,
        timed to the first event; an answer other than 200, a failure or a dropped stream leaves the buyer
        polling, not reconnecting, and a 404 or 400 (no stream on this server, or not for this date) keeps
        the later buyers from trying."""
        path = f"/api/queue/events?concert_date_id={PLAN['date_id']}"
        if number is not None:
            path += f"&number={number}"
        started, stream, recorded, was_live = time.perf_counter(), None, False, False
        try:
            stream = EventStream.open(self.host, path, timeout=self.connection_timeout)
            if stream.status != 200:
                if stream.status in (400, 404):
                    server_supports["sold_out_stream"] = False
                self.record_stream(started, Answer(stream.status, stream.headers, stream.text().encode()))
                recorded = True
                return
            stream.settimeout(self.network_timeout)  # for the first event; later ones come when they come
            parser = EventStreamParser()
            for data in stream.body():
                for name, payload in parser.feed(data):
                    if name == "turn":
                        self.journey.setdefault("told_turn", round(self.now(), 2))
                        self.turn_heard.set()
                    if name != "seats":
                        continue
                    if not recorded:
                        self.record_stream(started, Answer(200, stream.headers), length=len(payload))
                        recorded = True
                        server_supports["sold_out_stream"] = True
                        self.journey["stream_opened"] = round(self.now(), 2)
                        self.stream_live = True
                        stream.settimeout(None)  # idle from now on: no timer, keep-alives or nothing
                    if json.loads(payload).get("sold_out") is True:
                        self.hear_sold_out()
                        return
            if not recorded:
                raise EOFError("the event stream ended before its first event")
        except Exception as exc:  # the polls go on whatever happened to the stream
            if not recorded:
                self.record_stream(started, None, exception=exc)
        finally:
            was_live, self.stream_live = self.stream_live, False
            if stream is not None:
                stream.close()
        if was_live:  # it dropped (not told sold out, not closed by the buyer): as the page, ask at once
            self.turn_heard.set()

    def start_listening(self, number: int | None) -> None:
        """Open the stream if this buyer has none yet, the server has one and this process has room; open it
        again, once, when the buyer's number is learnt after it opened (the pre-queue's draw)."""
        global streams_open
        if self.stream is not None and number is not None and self.stream_number is None:
            self.stop_listening()
        if self.stream is None and server_supports["sold_out_stream"] is not False and streams_open < MAX_STREAMS:
            streams_open += 1
            self.stream_number = number
            self.stream = gevent.spawn(self.listen_for_sold_out, number)
            self.stream.link(lambda _: _stream_closed())

    def hear_sold_out(self) -> None:
        if not self.sold_out_heard.is_set():
            self.heard_sold_out_at = self.now()
            server_supports["sold_out"] = True  # the server tells SOLD_OUT (here, by the stream)
            self.sold_out_heard.set()  # wakes the polling loop

    def stop_listening(self) -> None:
        """Ends the stream's greenlet; its `finally` closes the socket before this returns."""
        if self.stream is not None:
            self.stream.kill()
            self.stream = None

    def record_stream(self, started: float, answer: Answer | None, *, length: int = 0,
                      exception: Exception | None = None) -> None:  # fmt: skip
        """The stream's opening as one request (so the request listener and Locust's statistics count it)."""
        code = answer.status_code if answer is not None else 0
        if exception is None and code >= 500 and code != 503:
            exception = RuntimeError(f"{EVENTS_NAME} answered {code}")
        self.environment.events.request.fire(
            request_type="GET", name=EVENTS_NAME, response_time=(time.perf_counter() - started) * 1000,
            response_length=length, response=answer, context={}, exception=exception, url=self.host,
        )  # fmt: skip

    def read_status(self, etag: str | None) -> tuple[str | None, str | None]:
        headers = {**self.headers, **({"If-None-Match": etag} if etag else {}), "Accept-Encoding": "gzip"}
        response = self.call("GET", PLAN["status_path"], "GET seat-status", ok=(200, 304), headers=headers)
        if response.status_code == 304:
            return etag, None
        if response.status_code != 200:
            raise GiveUp(f"seat status {response.status_code}")
        return response.headers.get("ETag"), response.json()["codes"]

    def read_layout(self) -> list[dict[str, Any]]:
        response = self.call("GET", PLAN["layout_path"], "GET seat-layout", ok=(200,))
        if response.status_code != 200:
            raise GiveUp(f"layout {response.status_code}")
        etag = response.headers.get("ETag") or ""
        if etag not in _layouts or not etag:
            _layouts[etag] = layout_sections(response.json())
        return _layouts[etag]

    def attempt(self, body: dict[str, Any]) -> Any:
        """One hold attempt; counted once whatever 429/503 retries it took."""
        response = self.call("POST", "/api/reservations", "POST /api/reservations", ok=(201,), headers=self.headers,
                             json_body={"concert_date_id": PLAN["date_id"], **body})  # fmt: skip
        self.journey["hold_attempts"] += 1
        return response

    def hold(self) -> dict[str, Any] | None:
        """Seats for this buyer, or None (the outcome says why)."""
        sections = self.read_layout()
        quantity = self.rng.choice((1, 2, 2, 2, 3, 4))
        best = server_supports["best_available"] and self.rng.random() < PLAN["best_available_share"]
        # A best-available buyer may name a section (the dearer, the likelier), or leave it to the server.
        section = pick_section(sections, self.rng) if best and self.rng.random() < 0.5 else None
        together = True
        etag, codes = (None, None) if best else self.read_status(None)
        gevent.sleep(self.rng.uniform(*PLAN["think_choose"]))
        patience_ends = self.now() + PLAN["patience_seconds"]
        while True:
            if self.journey["hold_attempts"] >= 2 * PLAN["hold_attempts"]:
                self.journey["outcome"] = "no seat after retries"
                return None
            if best:
                body = {"quantity": quantity, **({"section": section} if section else {}),
                        **({} if together else {"together": False})}  # fmt: skip
                response = self.attempt(body)
                if response.status_code == 201:
                    return response.json()
                error = response.json()["error"]
                if error["code"] == "VALIDATION_ERROR" and "seat_ids" in json.dumps(error.get("details")):
                    server_supports["best_available"] = best = False  # the server has no best available
                    self.journey["hold_attempts"] -= 1  # not an attempt at seats
                    etag, codes = self.read_status(None)
                    continue
                if error["code"] != "NOT_ENOUGH_SEATS":
                    self.journey["outcome"] = f"hold {error['code']}"
                    return None
                details = error.get("details") or {}
                if section:  # that section is full: anywhere will do
                    section = None
                    continue
                available = int(details.get("available") or 0)
                fewer = min(quantity, available)
                if available and (fewer, int(details.get("largest_together") or 0) >= fewer) != (quantity, together):
                    # Fewer free than wanted, or not side by side: take what there is.
                    quantity, together = fewer, int(details.get("largest_together") or 0) >= fewer
                    continue
            else:
                wanted = choose_seats(sections, codes, quantity, self.rng) if codes else []
                if wanted:
                    response = self.attempt({"seat_ids": wanted})
                    if response.status_code == 201:
                        return response.json()
                    code = response.json()["error"]["code"]
                    if code != "SEAT_UNAVAILABLE":
                        self.journey["outcome"] = f"hold {code}"
                        return None
                    self.journey["seat_unavailable"] += 1
                    taken = set(response.json()["error"]["details"].get("seat_ids") or wanted)
                    codes = mark_taken(sections, codes, taken)
                    if self.journey["seat_unavailable"] >= 2 and server_supports["best_available"]:
                        best = True  # the page's first choice, after the map let the buyer down twice
                        continue
                    if self.journey["seat_unavailable"] >= PLAN["hold_attempts"]:
                        self.journey["outcome"] = "no seat after retries"
                        return None
                    etag, fresh = self.read_status(etag)
                    codes = fresh or codes
                    continue
            # Nothing free now: wait for held seats to come back, unless every seat is sold.
            etag, codes = self.wait_for_seats(etag, codes, patience_ends)
            if codes is None:
                return None

    def wait_for_seats(
        self, etag: str | None, codes: str | None, patience_ends: float
    ) -> tuple[str | None, str | None]:
        """Nothing is free now: re-read the seat status every few seconds until it shows a free seat.
        Returns (etag, codes), or (etag, None) with the outcome set when every seat is sold or the
        buyer's patience ends. It always waits before reading: the caller has just been told no seat fits."""
        while True:
            if codes is not None and "A" not in codes and "H" not in codes:
                self.journey["outcome"] = "sold out"
                return etag, None
            if self.now() > patience_ends:
                self.journey["outcome"] = "no seat came back"
                return etag, None
            gevent.sleep(self.rng.uniform(3.0, 6.0))
            etag, fresh = self.read_status(etag if codes is not None else None)
            codes = fresh or codes
            if codes is not None and "A" in codes:
                return etag, codes


def pick_section(sections: list[dict[str, Any]], rng: random.Random) -> str:
    """A section drawn with a preference for the best (dearest) ones, weight 1/(k+1)."""
    return rng.choices(sections, weights=[1 / (k + 1) for k in range(len(sections))])[0]["name"]


def layout_sections(layout: dict[str, Any]) -> list[dict[str, Any]]:
    """Sections in layout order with each seat's index in the status string, best (dearest) first."""
    index, sections = 0, []
    for section in layout["sections"]:
        rows = []
        for row in section["rows"]:
            rows.append([(seat_id, index + i) for i, (seat_id, _num) in enumerate(row["seats"])])
            index += len(row["seats"])
        sections.append({"name": section["name"], "price": float(section["price"]), "rows": rows})
    return sorted(sections, key=lambda s: -s["price"])


def choose_seats(sections: list[dict[str, Any]], codes: str, count: int, rng: random.Random) -> list[int]:
    """Adjacent available seats in a section drawn with a preference for the best ones (weight 1/(k+1))."""
    open_sections = [s for s in sections if any(codes[i] == "A" for row in s["rows"] for _, i in row)]
    if not open_sections:
        return []
    weights = [1 / (k + 1) for k in range(len(open_sections))]
    section = rng.choices(open_sections, weights=weights)[0]
    rows = [row for row in section["rows"] if any(codes[i] == "A" for _, i in row)]
    # Buyers prefer the front rows of a section too: look at the first few rows with room first.
    for row in rows[:3] + rng.sample(rows, len(rows)):
        runs, run = [], []
        for seat_id, i in row:
            if codes[i] == "A":
                run.append(seat_id)
                if len(run) == count:
                    runs.append(list(run))
                    run.pop(0)
            else:
                run = []
        if runs:
            return rng.choice(runs)
    free = [seat_id for row in rows for seat_id, i in row if codes[i] == "A"]
    return rng.sample(free, min(count, len(free)))


def mark_taken(sections: list[dict[str, Any]], codes: str, taken: set[int]) -> str:
    chars = list(codes)
    for section in sections:
        for row in section["rows"]:
            for seat_id, i in row:
                if seat_id in taken:
                    chars[i] = "H"
    return "".join(chars)
