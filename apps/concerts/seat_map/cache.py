"""Where renders are kept: this process's copies (least recently used dropped first beyond a byte
budget) and the stored copies in Redis that every web process shares (the Django cache). Every
entry is checked against the version read from Redis before it is served."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.core.cache import cache as shared

from apps.common.exceptions import UNAVAILABLE_EXCEPTIONS


class LocalCopies:
    """The renders this process served last, least recently used dropped first beyond a byte budget."""

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


local = LocalCopies(settings.SEAT_MAP_LOCAL_BUDGET_BYTES)


def forget_local_copies() -> None:
    """Drop this process's copies (tests; the stored renders in Redis stay)."""
    local.clear()


# The stored renders are pickles of the classes in this package, named by module path: a change of
# those paths or of their fields bumps the format, so that during a rolling deploy old and new
# processes never read each other's copies (each builds its own from the database once).
FORMAT = 3


def layout_key(concert_date_id: int, layout_version: int) -> str:
    return f"seatmap:v{FORMAT}:{concert_date_id}:layout:{layout_version}"


def status_key(concert_date_id: int, version: int) -> str:
    return f"seatmap:v{FORMAT}:{concert_date_id}:status:{version}"


def stored(key: str) -> Any:
    """A stored render, or None when there is none or Redis does not answer (the caller then builds
    from the database)."""
    try:
        return shared.get(key)
    except UNAVAILABLE_EXCEPTIONS:
        return None


def store(key: str, value: Any, timeout: int) -> None:
    with contextlib.suppress(UNAVAILABLE_EXCEPTIONS):  # served from the database this time
        shared.set(key, value, timeout=timeout)
