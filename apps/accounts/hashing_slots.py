"""A host-wide cap on concurrent password hashing (logins and sign-ups).

Hashing a password is deliberately expensive CPU work. With sync web workers, a crowd logging in at
the opening of a sale would otherwise put every worker of a machine on hashing at once, and the
cheap requests the same crowd needs (queue status polls, queue entry) would wait behind them. So at
most PASSWORD_HASHING_CONCURRENCY requests of a machine hash at a time (default: half its CPUs, at
least one). The next one waits for a slot, up to PASSWORD_HASHING_WAIT_SECONDS: a burst of real
logins (eight at once on a 2-core host with one slot) is served a few hashes later instead of
failing. Only a request still without a slot after that is answered 429 THROTTLED with Retry-After,
and the rate limit it was counted in is given back (the view does), so its retry is not charged twice.

The slots are `flock` locks on files in PASSWORD_HASHING_SLOTS_DIR, so they are shared by every
worker process of the machine (what shares its CPUs) whatever the server's process model, and the
kernel releases a slot when the process holding it dies. flock has no timeout, so a waiting request
tries the slots again every few milliseconds (a system call per slot per try, no CPU to speak of).
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from rest_framework.exceptions import Throttled

RETRY_EVERY_SECONDS = (0.005, 0.025)  # jittered, so waiting processes do not try in lockstep


class HashingSlotsBusy(Throttled):
    """Every slot stayed taken for PASSWORD_HASHING_WAIT_SECONDS: 429 THROTTLED, Retry-After: 1."""


def _slot_paths() -> list[Path]:
    directory = Path(settings.PASSWORD_HASHING_SLOTS_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [directory / f"slot-{n}" for n in range(max(1, settings.PASSWORD_HASHING_CONCURRENCY))]


def _take_a_free_slot(paths: list[Path]) -> int | None:
    """The descriptor holding a slot's lock, or None when every slot is taken."""
    for path in paths:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd
    return None


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of the machine's password-hashing slots for the duration, waiting for one up to
    PASSWORD_HASHING_WAIT_SECONDS; raise HashingSlotsBusy (429 THROTTLED) when none came free."""
    paths = _slot_paths()
    deadline = time.monotonic() + settings.PASSWORD_HASHING_WAIT_SECONDS
    fd = _take_a_free_slot(paths)
    while fd is None and time.monotonic() < deadline:
        time.sleep(min(random.uniform(*RETRY_EVERY_SECONDS), max(0.0, deadline - time.monotonic())))
        fd = _take_a_free_slot(paths)
    if fd is None:
        raise HashingSlotsBusy(wait=1, detail="Too many logins in progress on this server; retry in a second.")
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases its lock
