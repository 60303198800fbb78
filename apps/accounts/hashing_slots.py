"""A host-wide cap on concurrent password hashing (logins and sign-ups).

Hashing a password is deliberately expensive CPU work. With sync web workers, a crowd logging in at
the opening of a sale would otherwise put every worker of a machine on hashing at once, and the
cheap requests the same crowd needs (queue status polls, queue entry) would wait behind them. So at
most PASSWORD_HASHING_CONCURRENCY requests of a machine hash at a time (default: half its CPUs, at
least one); the next one is answered 429 THROTTLED with Retry-After at once, at the cost of a few
system calls, and the other workers stay free for everything else.

The slots are `flock` locks on files in PASSWORD_HASHING_SLOTS_DIR, so they are shared by every
worker process of the machine (what shares its CPUs) whatever the server's process model, and the
kernel releases a slot when the process holding it dies.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from rest_framework.exceptions import Throttled


def _slot_paths() -> list[Path]:
    directory = Path(settings.PASSWORD_HASHING_SLOTS_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [directory / f"slot-{n}" for n in range(max(1, settings.PASSWORD_HASHING_CONCURRENCY))]


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of the machine's password-hashing slots for the duration, or raise DRF's Throttled
    (429 THROTTLED, Retry-After: 1) when all are taken."""
    for path in _slot_paths():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor releases its lock
        return
    raise Throttled(wait=1, detail="Too many logins in progress on this server; retry in a second.")
