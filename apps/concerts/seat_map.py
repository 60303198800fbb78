"""The seat map of a concert date, rendered once per version and served as stored bytes.

Two documents split what never changes during a sale from what does:

- the **layout**: sections with their price, rows, and seats as `[seat_id, seat_num]`. It changes only
  when staff change the date's seats or prices, which bumps `ConcertDate.layout_version` in the same
  transaction, so a layout is immutable per (date, layout_version) and is cached under that pair;
- the **status**: one character per seat in layout order (`A` available, `H` held, `R` reserved),
  rendered once per `version`, a per-date counter in Redis bumped after every committed seat change
  (`seats_changed`). A reader that built from rows read before a change can only store its render
  under the old version, which no later reader asks for. The counter starts at the clock in
  microseconds, not at 1, so a counter lost to eviction or a Redis restart never comes back at a
  number an old render is still stored under (and stays below 2**53, exact in a browser's JSON).

The seat list (`…/seats`) is rendered from the same two documents, so it costs no database read of
its own. Every render is stored with its gzip and a strong ETag (a digest of the body), in Redis for
every web process and in this process's memory for the next request, keyed by the version that is
read from Redis on every request (in the round trip that checks the buyer's queue token, for the
queue-protected views: `queue_version_read`): a committed change shows in the next read, on every
process.

A new version is usually a patch: a seat change names its seats, the bump logs them in Redis beside
the counter, and a reader whose copy is a few versions behind re-reads only those seats by primary
key, instead of all 50,000 (a bump that names no seats, or a gap in the log, reads them all).

Expiry needs no sweep: a stored status carries its live holds (`held_until` and position), and a
read after the earliest of them flips the expired ones to `A` and renders again, from memory.
Renders are also rebuilt from the database after SEAT_MAP_TTL_SECONDS whatever the counter says:
the safety net that bounds how long a lost invalidation (Redis failing after a commit) can show a
stale map.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import gzip
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models.functions import Substr
from redis.client import Pipeline

from apps.common.exceptions import UNAVAILABLE_EXCEPTIONS
from apps.common.redis import get_redis, redis_key

from .models import ConcertDate, Seat, SeatStatus

SEAT_MAP_TTL_SECONDS = 30  # the safety net; every committed change bumps the version at once
LAYOUT_TTL_SECONDS = 3600  # immutable per layout_version: the TTL only frees memory
LOCAL_BUDGET_BYTES = 64 * 1024 * 1024  # this process's copies of recent renders

clock = time.time  # epoch seconds; the tests move it to the moment a hold ends

CODE = {SeatStatus.AVAILABLE.value: "A", SeatStatus.HELD.value: "H", SeatStatus.RESERVED.value: "R"}
STATUS_OF = {code: status for status, code in CODE.items()}


# --- Rendered bodies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A JSON body, its gzip, and the strong ETag of the body. The gzip bytes are a different
    representation, so they carry their own validator (the body's with `-gzip`)."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes, *, level: int = 6) -> Rendered:
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        # mtime=0: the same body gzips to the same bytes in every process.
        return cls(body=body, gzipped=gzip.compress(body, compresslevel=level, mtime=0), etag=f'"{digest}"')

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# --- This process's copies -------------------------------------------------------------------------


class _LocalCopies:
    """The renders this process served last, least recently used dropped first beyond a byte budget.
    Every entry is checked against the version read from Redis before it is served."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.entries: OrderedDict[tuple, tuple[int, Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                return None
            self.entries.move_to_end(key)
            return found[1]

    def put(self, key: tuple, value: Any, size: int) -> None:
        with self.lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.used -= old[0]
            self.entries[key] = (size, value)
            self.used += size
            while self.used > self.budget and len(self.entries) > 1:
                _, (dropped, _) = self.entries.popitem(last=False)
                self.used -= dropped

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.used = 0


_local = _LocalCopies(LOCAL_BUDGET_BYTES)


def forget_local_copies() -> None:
    """Drop this process's copies (tests; the stored renders in Redis stay)."""
    _local.clear()


def _cache_get(key: str) -> Any:
    """A stored render, or None when there is none or Redis does not answer (the caller then builds
    from the database)."""
    try:
        return cache.get(key)
    except UNAVAILABLE_EXCEPTIONS:
        return None


def _cache_set(key: str, value: Any, timeout: int) -> None:
    with contextlib.suppress(UNAVAILABLE_EXCEPTIONS):  # served from the database this time
        cache.set(key, value, timeout=timeout)


# --- The layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    concert_date_id: int
    layout_version: int
    rendered: Rendered


def _layout_key(concert_date_id: int, layout_version: int) -> str:
    return f"seatmap:{concert_date_id}:layout:{layout_version}"


def _build_layout(concert_date_id: int) -> Layout:
    """One statement (so the seats and the layout_version come from one snapshot), in seat order.
    A section's `price` is the price most of its seats have; `seat_prices` lists the seats staff
    priced differently, as {seat_id: price}."""
    rows = list(
        Seat.objects.filter(concert_date_id=concert_date_id)
        .order_by("seat_num")
        .values_list("pk", "seat_num", "section", "row", "price", "concert_date__layout_version")
    )
    layout_version = rows[0][5] if rows else 1
    sections: list[dict[str, Any]] = []
    prices: list[dict[Decimal, list[int]]] = []
    for pk, seat_num, section, row, price, _ in rows:
        if not sections or sections[-1]["name"] != section:
            sections.append({"name": section, "price": None, "rows": [], "seat_prices": {}})
            prices.append({})
        current = sections[-1]
        if not current["rows"] or current["rows"][-1]["row"] != row:
            current["rows"].append({"row": row, "seats": []})
        current["rows"][-1]["seats"].append([pk, seat_num])
        prices[-1].setdefault(price, []).append(pk)
    for section, by_price in zip(sections, prices, strict=True):
        common = max(by_price, key=lambda price: len(by_price[price]))
        section["price"] = f"{common:.2f}"
        section["seat_prices"] = {
            str(pk): f"{price:.2f}" for price, pks in by_price.items() if price != common for pk in pks
        }
    body = {"concert_date_id": concert_date_id, "layout_version": layout_version, "sections": sections}
    return Layout(concert_date_id, layout_version, Rendered.of(_dumps(body)))


def seat_layout(*, concert_date_id: int, layout_version: int) -> Layout:
    """The date's layout at `layout_version` (what the date's facts say it is now), from this
    process, then Redis, then the database. A build that finds a newer version serves that one."""
    key = ("layout", concert_date_id, layout_version)
    layout = _local.get(key)
    if layout is None:
        layout = _cache_get(_layout_key(concert_date_id, layout_version))
        if layout is None:
            layout = _build_layout(concert_date_id)
            _cache_set(_layout_key(concert_date_id, layout.layout_version), layout, LAYOUT_TTL_SECONDS)
        _local.put(("layout", concert_date_id, layout.layout_version), layout, layout.rendered.size)
    return layout


# --- The status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    concert_date_id: int
    layout_version: int
    version: int  # the map version this reads as (a patch that changed nothing keeps the body it had)
    codes: str
    holds: tuple[tuple[float, int], ...]  # (held_until as epoch seconds, position) of live holds, ascending
    built_at: float  # epoch seconds: the rows were read then
    rendered: Rendered

    @property
    def expires_at(self) -> float:
        """When the earliest live hold ends, and the codes with it."""
        return self.holds[0][0] if self.holds else float("inf")

    @property
    def fresh_until(self) -> float:
        return self.built_at + SEAT_MAP_TTL_SECONDS

    def at(self, now: float) -> Status:
        """These codes as they read at `now`: holds that ended by then read `A`."""
        if now < self.expires_at:
            return self
        ended = bisect.bisect_right(self.holds, (now, float("inf")))
        codes = bytearray(self.codes, "ascii")
        for _, position in self.holds[:ended]:
            codes[position] = ord("A")
        return _status(self, codes=codes.decode("ascii"), holds=self.holds[ended:])


def _status(template: Status | None = None, **fields: Any) -> Status:
    """A Status with its body rendered from its fields."""
    if template is not None:
        fields = {**{f.name: getattr(template, f.name) for f in dataclasses.fields(Status)}, **fields}
    body = (
        f'{{"concert_date_id":{fields["concert_date_id"]},"layout_version":{fields["layout_version"]},'
        f'"version":{fields["version"]},"codes":"{fields["codes"]}"}}'
    ).encode("ascii")
    return Status(**{**fields, "rendered": Rendered.of(body)})


# The counter and its change log share the date's hash tag: one slot of a Redis Cluster, one script.
def _version_key(concert_date_id: int) -> str:
    return redis_key("seatmap", f"{{{concert_date_id}}}", "status-version")


def _changes_key(concert_date_id: int) -> str:
    return redis_key("seatmap", f"{{{concert_date_id}}}", "changes")


def _status_key(concert_date_id: int, version: int) -> str:
    return f"seatmap:{concert_date_id}:status:{version}"


def _fresh_version() -> int:
    return time.time_ns() // 1000


CHANGES_KEPT = 256  # versions whose changed seats the log remembers
CHANGES_TTL_SECONDS = 3600
PATCH_MAX_VERSIONS = 64  # further behind than this, reading every seat again is as cheap

# A missing counter starts at a fresh clock value (never at 1); each bump logs its changed seats
# ("*" when it does not know them) under the new version, so a reader can tell a complete log apart.
_BUMP = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local version = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], version, version .. ':' .. ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
return version
"""


def invalidate_seat_map(*, concert_date_id: int, seat_ids: Iterable[int] | None = None) -> None:
    """Seats of the date changed (these, or any when None): the next read renders the status (and the
    seat list) again, patching only the named seats when it can. One round trip."""
    changed = ",".join(map(str, sorted(set(seat_ids)))) if seat_ids else "*"
    bump = get_redis().register_script(_BUMP)
    bump(
        keys=[_version_key(concert_date_id), _changes_key(concert_date_id)],
        args=[_fresh_version(), changed, CHANGES_KEPT, CHANGES_TTL_SECONDS],
    )


def current_version(concert_date_id: int) -> int:
    """The date's status version: one GET on the plain Redis client (the hot path of every read)."""
    return version_from_reply(concert_date_id, get_redis().get(_version_key(concert_date_id)))


def queue_version_read(pipe: Pipeline, concert_date_id: int) -> None:
    """Queue the read of the date's status version (one GET) into a caller's pipeline, so that a
    request that makes a round trip anyway (the queue token's check) reads it there; pass the reply
    to `version_from_reply`, and the version to `seat_status` or `seat_list`."""
    pipe.get(_version_key(concert_date_id))


def version_from_reply(concert_date_id: int, reply: str | None) -> int:
    """The version a GET of the counter answered. A counter that is missing (never read, evicted,
    Redis restarted) starts here at the clock, in round trips of its own (once)."""
    if reply is None:
        redis = get_redis()
        redis.set(_version_key(concert_date_id), _fresh_version(), nx=True)
        reply = redis.get(_version_key(concert_date_id))
    return int(reply)


def _changed_since(concert_date_id: int, since: int, version: int) -> set[int] | None:
    """The seats changed by the versions after `since` up to `version`, or None when the log cannot
    say: a bump that named no seats, entries trimmed or lost, a counter that jumped (lost and
    restarted at the clock)."""
    if not 0 < version - since <= PATCH_MAX_VERSIONS:
        return None
    entries = get_redis().zrangebyscore(_changes_key(concert_date_id), f"({since}", version)
    if len(entries) != version - since:
        return None
    changed: set[int] = set()
    for entry in entries:
        seat_ids = entry.partition(":")[2]
        if seat_ids == "*":
            return None
        changed.update(map(int, seat_ids.split(",")))
    return changed


def _patched(base: Status, version: int, seat_ids: set[int]) -> Status | None:
    """`base` with the named seats read again (by primary key): the status at `version`. It keeps
    base's `built_at`, so the whole map is still read again within the safety net. None when a
    seat does not fit base's positions (the caller then reads every seat)."""
    rows = Seat.objects.filter(pk__in=seat_ids, concert_date_id=base.concert_date_id).values_list(
        "seat_num", "status", "held_until"
    )
    now = clock()
    codes = bytearray(base.codes, "ascii")
    positions, holds = set(), []
    for seat_num, status, held_until in rows:
        position = seat_num - 1
        if not 0 <= position < len(codes):
            return None
        positions.add(position)
        code = CODE[status]
        if status == SeatStatus.HELD and held_until is not None:
            ends = held_until.timestamp()
            if ends <= now:
                code = "A"
            else:
                holds.append((ends, position))
        codes[position] = ord(code)
    holds += [hold for hold in base.holds if hold[1] not in positions]
    patched = codes.decode("ascii")
    if patched == base.codes and sorted(holds) == list(base.holds):
        # Nothing a client sees changed (the outbox repeating a bump, a hold made and released
        # between two reads): the same body and ETag, so a poller keeps getting 304.
        return dataclasses.replace(base, version=version)
    return _status(base, version=version, codes=patched, holds=tuple(sorted(holds)))


def _build_status(concert_date_id: int, version: int) -> Status:
    """Every seat's status letter in seat order, one character a row and no per-row objects (a third
    of the cost of reading the rows whole), then the held seats' ends through the (concert_date,
    status) index. A seat's position is its seat_num - 1: a date's seats are numbered 1..N in layout
    order when the date is made and never renumbered. A seat that changed between the two
    statements keeps its letter: its change bumps the version, and the next read renders again."""
    built_at = clock()
    layout_version = ConcertDate.objects.filter(pk=concert_date_id).values_list("layout_version", flat=True).first()
    seats = Seat.objects.filter(concert_date_id=concert_date_id)
    letters = seats.order_by("seat_num").annotate(code=Substr("status", 1, 1)).values_list("code", flat=True)
    codes = bytearray("".join(letters), "ascii")
    holds = []
    for seat_num, held_until in seats.filter(status=SeatStatus.HELD).values_list("seat_num", "held_until"):
        position = seat_num - 1
        if held_until is None or not 0 <= position < len(codes) or codes[position] != ord("H"):
            continue
        ends = held_until.timestamp()
        if ends <= built_at:
            codes[position] = ord("A")  # ended, not yet swept
        else:
            holds.append((ends, position))
    holds.sort()
    return _status(
        concert_date_id=concert_date_id,
        layout_version=layout_version or 1,
        version=version,
        codes=codes.decode("ascii"),
        holds=tuple(holds),
        built_at=built_at,
    )


def seat_status(*, concert_date_id: int, version: int | None = None) -> Status:
    """The date's status as it reads now: this process's copy when it is of the current version,
    else the one stored in Redis, else built from the database (and stored for the others).
    `version` is the current version when the caller has read it already (`queue_version_read`, in a
    round trip of its own); else it is read here. Redis failing on the version read raises (the
    caller answers 503)."""
    if version is None:
        version = current_version(concert_date_id)
    now = clock()
    key = ("status", concert_date_id)
    status = local = _local.get(key)
    if status is None or status.version != version or now >= status.fresh_until:
        status = _cache_get(_status_key(concert_date_id, version))
        if status is None or now >= status.fresh_until:
            status = None
            if local is not None and local.version < version and now < local.fresh_until:
                changed = _changed_since(concert_date_id, local.version, version)
                if changed is not None:
                    status = _patched(local, version, changed)
            if status is None:
                status = _build_status(concert_date_id, version)
            _cache_set(_status_key(concert_date_id, version), status, SEAT_MAP_TTL_SECONDS)
    current = status.at(now)
    if current is not local:
        _local.put(key, current, current.rendered.size + len(current.codes))
    return current


# --- The seat list -----------------------------------------------------------------------------------


def _seat_prefixes(layout: Layout) -> list[str]:
    """Each seat's JSON object up to its status value, in layout order (what the seat list repeats
    50,000 times), from the layout document itself."""
    document = json.loads(layout.rendered.body)
    prefixes = []
    for section in document["sections"]:
        name = json.dumps(section["name"], ensure_ascii=False)
        for row in section["rows"]:
            label = json.dumps(row["row"], ensure_ascii=False)
            for pk, seat_num in row["seats"]:
                price = section["seat_prices"].get(str(pk), section["price"])
                prefixes.append(
                    f'{{"id":{pk},"seat_num":{seat_num},"section":{name},"row":{label},"price":"{price}","status":"'
                )
    return prefixes


_ENDINGS = {code: f'{status}"}}' for code, status in STATUS_OF.items()}


def seat_list(*, concert_date_id: int, status: str | None = None, version: int | None = None) -> Rendered:
    """The seat list of the API (`[{id, seat_num, section, row, price, status}]` in seat order,
    optionally one status only), rendered from the current layout and status and kept for as long
    as both stay the same. `version` as for `seat_status`."""
    current = seat_status(concert_date_id=concert_date_id, version=version)
    layout = seat_layout(concert_date_id=concert_date_id, layout_version=current.layout_version)
    sources = (current.rendered.etag, layout.rendered.etag)
    key = ("seats", concert_date_id, status)
    stored = _local.get(key)
    if stored is not None and stored[0] == sources:
        return stored[1]
    prefixes = _local.get(("prefixes", concert_date_id, layout.rendered.etag))
    if prefixes is None:
        prefixes = _seat_prefixes(layout)
        size = sum(map(len, prefixes)) + 64 * len(prefixes)  # with each string's own overhead
        _local.put(("prefixes", concert_date_id, layout.rendered.etag), prefixes, size)
    wanted = CODE[status] if status else None
    body = ",".join(
        prefix + _ENDINGS[code]
        for prefix, code in zip(prefixes, current.codes, strict=True)
        if wanted is None or code == wanted
    )
    rendered = Rendered.of(f"[{body}]".encode(), level=1)  # large: gzip's fastest level costs a fifth
    _local.put(key, (sources, rendered), rendered.size)
    return rendered
