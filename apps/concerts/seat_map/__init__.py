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

One job a file: `render` (the bytes: bodies, gzip, ETags), `status` (the status document and its
live holds), `versions` (the counter and change log in Redis), `patch` (a copy brought forward by
the changed seats), `cache` (this process's copies and the stored ones), `queries` (the SQL), and
`documents` (each document from the nearest copy that is current).
"""

from .cache import forget_local_copies
from .documents import seat_layout, seat_list, seat_status, status_copy_version
from .render import Layout, Rendered
from .status import Status
from .versions import (
    VersionRead,
    current_version,
    invalidate_seat_map,
    queue_version_read,
    seat_map_bump,
    version_from_reply,
    version_read,
)

__all__ = [
    "Layout",
    "Rendered",
    "Status",
    "VersionRead",
    "current_version",
    "forget_local_copies",
    "invalidate_seat_map",
    "queue_version_read",
    "seat_layout",
    "seat_list",
    "seat_map_bump",
    "seat_status",
    "status_copy_version",
    "version_from_reply",
    "version_read",
]
