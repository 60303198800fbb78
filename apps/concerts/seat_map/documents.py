"""The three documents of a date as they read now (layout, status, seat list): this process's copy,
else the one stored in Redis, else built from the database (and stored for the others)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings

from . import cache, clock, queries, versions
from .patch import patched
from .render import CODE, Layout, Rendered, layout, seat_list_body, seat_prefixes
from .status import Status

LAYOUT_TTL_SECONDS = 3600  # immutable per layout_version: the TTL only frees memory
PREFIX_OVERHEAD_BYTES = 64  # a seat-list prefix's size beyond its characters (the string object)
SEEN_OVERHEAD_BYTES = 200  # a remembered log read's size beyond its changed seats
PATCH_MAX_SEATS = 256  # seats a copy answering as it is may know changed before it is patched


def seat_layout(*, concert_date_id: int, layout_version: int) -> Layout:
    """The date's layout at `layout_version` (what the date's facts say it is now), from this
    process, then Redis, then the database. A build that finds a newer version serves that one."""
    key = ("layout", concert_date_id, layout_version)
    found = cache.local.get(key)
    if found is None:
        found = cache.stored(cache.layout_key(concert_date_id, layout_version))
        if found is None:
            found = layout(concert_date_id, queries.layout_rows(concert_date_id))
            cache.store(cache.layout_key(concert_date_id, found.layout_version), found, LAYOUT_TTL_SECONDS)
        cache.local.put(("layout", concert_date_id, found.layout_version), found, found.rendered.size)
    return found


@dataclass(frozen=True)
class _Seen:
    """What a hold learnt of the log beyond this process's copy without patching it (none of its seats
    had changed): the copy's version, the version the log was read up to, the seats changed between."""

    copy_version: int
    seen: int
    changed: frozenset[int]


def _seen(local: Status) -> _Seen | None:
    seen = cache.local.get(("status-seen", local.concert_date_id))
    return seen if seen is not None and seen.copy_version == local.version else None


def status_copy_version(concert_date_id: int) -> int | None:
    """The version after which the change log is still unread for this process's copy of the date's
    status while it is fresh, else None (what a caller reading the version in its own round trip passes
    to `versions.queue_version_read`): the copy's own, or the one a hold read the log up to since."""
    local = cache.local.get(("status", concert_date_id))
    if local is None or clock.now() >= local.fresh_until:
        return None
    seen = _seen(local)
    return seen.seen if seen is not None else local.version


def seat_status(
    *,
    concert_date_id: int,
    version: int | versions.VersionRead | None = None,
    shared: bool = True,
    reading: Collection[int] | None = None,
) -> Status:
    """The date's status as it reads now: this process's copy when it is of the current version,
    else the one stored in Redis, else patched from this process's older copy or built from the
    database (and stored for the others). `version` is the current version when the caller has read
    it already (`queue_version_read`, in a round trip of its own: a `VersionRead`, with the change log
    when it was read beside it); else it is read here. Redis failing on the version read raises (the
    caller answers 503).

    `shared=False` is for a caller that reads only the codes (a hold): an older copy of this process
    is patched and kept here, with no stored copy read or written and no body rendered; without a copy
    to patch it reads as the shared path does. With `reading` (the seat ids the caller looks at), a copy
    whose change log shows none of them changed answers as it is, of an older version: what it says of
    those seats is what the current status says (no database statement; the change log read beside the
    version, or in one Redis read here)."""
    read = version if isinstance(version, versions.VersionRead) else None
    if read is not None:
        version = read.version
    elif version is None:
        version = versions.current_version(concert_date_id)
    now = clock.now()
    key = ("status", concert_date_id)
    status = local = cache.local.get(key)
    if status is None or status.version != version or now >= status.fresh_until:
        status = None if shared else _brought_forward(local, version, now, reading, read)
        if status is None:
            status = cache.stored(cache.status_key(concert_date_id, version))
            if status is None or now >= status.fresh_until:
                # A copy the unshared path could not bring forward cannot be brought forward now either.
                status = (_brought_forward(local, version, now, read=read) if shared else None) or queries.build_status(
                    concert_date_id, version
                )
                status.rendered  # noqa: B018 (rendered once here, so the stored copy carries its bytes)
                cache.store(cache.status_key(concert_date_id, version), status, settings.SEAT_MAP_TTL_SECONDS)
    current = status.at(now)
    if current is not local:
        cache.local.put(key, current, current.kept_size)
    return current


def _brought_forward(
    local: Status | None,
    version: int,
    now: float,
    reading: Collection[int] | None = None,
    read: versions.VersionRead | None = None,
) -> Status | None:
    """This process's copy brought to `version` by the seats the change log names (the copy itself when
    none of `reading` is among them), or None when it cannot be (no copy, a copy past its freshness, a
    newer copy, or a log that cannot say)."""
    if local is None or local.version >= version or now >= local.fresh_until:
        return None
    # The log is read after what an earlier hold read of it, not after the copy: each read names only
    # the new changes (the seats changed before are remembered, up to PATCH_MAX_SEATS).
    seen = _seen(local)
    since, known = (seen.seen, seen.changed) if seen is not None and seen.seen <= version else (local.version, None)
    changed = versions.changed_since(local.concert_date_id, since, version, read=read) if version > since else set()
    if changed is None:
        return None
    if known:
        changed |= known
    if reading is not None and changed.isdisjoint(reading) and len(changed) <= PATCH_MAX_SEATS:
        if version > since:
            cache.local.put(
                ("status-seen", local.concert_date_id),
                _Seen(local.version, version, frozenset(changed)),
                SEEN_OVERHEAD_BYTES + 32 * len(changed),
            )
        return local
    return patched(local, version, queries.seat_rows(local.concert_date_id, changed))


def seat_list(
    *, concert_date_id: int, status: str | None = None, version: int | versions.VersionRead | None = None
) -> Rendered:
    """The seat list of the API (`[{id, seat_num, section, row, price, status}]` in seat order,
    optionally one status only), rendered from the current layout and status and kept for as long
    as both stay the same. `version` as for `seat_status`."""
    current = seat_status(concert_date_id=concert_date_id, version=version)
    plan = seat_layout(concert_date_id=concert_date_id, layout_version=current.layout_version)
    sources = (current.rendered.etag, plan.rendered.etag)
    key = ("seats", concert_date_id, status)
    kept = cache.local.get(key)
    if kept is not None and kept[0] == sources:
        return kept[1]
    prefixes_key = ("prefixes", concert_date_id, plan.rendered.etag)
    prefixes = cache.local.get(prefixes_key)
    if prefixes is None:
        prefixes = seat_prefixes(plan.rendered)
        size = sum(map(len, prefixes)) + PREFIX_OVERHEAD_BYTES * len(prefixes)
        cache.local.put(prefixes_key, prefixes, size)
    rendered = seat_list_body(prefixes, current.codes, CODE[status] if status else None)
    cache.local.put(key, (sources, rendered), rendered.size)
    return rendered
