"""A status copy brought to a newer version by re-reading only the seats the change log names."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from ..models import SeatStatus
from . import clock
from .render import CODE
from .status import Status, make_status


def patched(base: Status, version: int, rows: Iterable[tuple[int, str, datetime | None]]) -> Status | None:
    """`base` with the seats of `rows` ((seat_num, status, held_until), read again by primary key):
    the status at `version`. It keeps base's `built_at`, so the whole map is still read again within
    the safety net. None when a seat does not fit base's positions (the caller then reads every seat)."""
    now = clock.now()
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
    return make_status(base, version=version, codes=patched, holds=tuple(sorted(holds)))
