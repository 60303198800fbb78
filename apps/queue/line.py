"""The line itself: entering it, asking where one stands (the waiter's heartbeat), leaving it, and
the wait estimate and polling pace each answer carries."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.common import metrics
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict
from apps.concerts.selectors import date_of_concert

from . import scripts
from .keys import QueueKeys, dates_with_waiters_key, datetime_from_ms, now_ms
from .models import QueueStatus
from .tokens import end_access, make_token

RATE_WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True, kw_only=True)
class QueueState:
    user_id: int
    concert_id: int
    concert_date_id: int
    status: QueueStatus
    position: int = 0
    estimated_wait_seconds: int | None = None
    token: str | None = None
    expires_at: dt.datetime | None = None
    poll_after_seconds: int | None = None
    created: bool = False


# --- Estimated wait and polling ---------------------------------------------------------------


def _admissions_per_second(total: int, span_ms: int) -> float:
    """Admissions per second observed over the window; the configured batch/interval until the
    window holds admissions spanning two admission intervals."""
    configured = settings.QUEUE_ADMIT_BATCH / settings.QUEUE_ADMIT_INTERVAL_SECONDS
    if total <= 0 or span_ms < 2 * settings.QUEUE_ADMIT_INTERVAL_SECONDS * 1000:
        return configured
    return total / (span_ms / 1000)


def admission_rate_per_second(*, concert_date_id: int, now: int | None = None) -> float:
    total, span_ms = scripts.run(
        scripts.RATE, [QueueKeys(concert_date_id).admissions], [now or now_ms(), RATE_WINDOW_MS]
    )
    return _admissions_per_second(int(total), int(span_ms))


def poll_after_seconds(position: int, estimated_wait: int) -> int:
    """Near the front poll every few seconds; far back every 30-60 s with jitter, so 10,000 waiters
    do not cost 2,000 requests a second. Never so rarely that the heartbeat drops the waiter."""
    batch = max(settings.QUEUE_ADMIT_BATCH, 1)
    if position <= batch:
        base = random.uniform(2, 4)
    elif position <= 5 * batch:
        base = random.uniform(5, 10)
    elif position <= 20 * batch:
        base = random.uniform(15, 30)
    else:
        base = random.uniform(30, 60)
    base = min(base, max(estimated_wait / 2, 2))
    return max(1, min(int(base), settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS // 3))


def _state_from_script_reply(
    *, user_id: int, concert_id: int, concert_date_id: int, reply: list[Any], created: bool = False
) -> QueueState:
    """Turn ENTER's or STATUS's reply ({status, position, expires_ms, created, admitted, span})
    into the buyer's state: the token for READY, the estimate and polling pace for WAITING."""
    raw_status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    status, position, expires_ms = QueueStatus(raw_status), int(reply[1]), int(reply[2])
    who = {"user_id": user_id, "concert_id": concert_id, "concert_date_id": concert_date_id, "created": created}
    if status == QueueStatus.READY:
        return QueueState(
            **who,
            status=status,
            estimated_wait_seconds=0,
            token=make_token(user_id=user_id, concert_date_id=concert_date_id, expires_ms=expires_ms),
            expires_at=datetime_from_ms(expires_ms),
        )
    if status == QueueStatus.WAITING:
        rate = _admissions_per_second(int(reply[4]), int(reply[5]))
        wait = math.ceil(position / rate) if rate > 0 else None
        return QueueState(
            **who,
            status=status,
            position=position,
            estimated_wait_seconds=wait,
            poll_after_seconds=poll_after_seconds(position, wait or 0),
        )
    return QueueState(**who, status=status)


# --- Enter, status, leave ----------------------------------------------------------------------


def enter_queue(*, user_id: int, concert_id: int, concert_date_id: int) -> QueueState:
    """Take a place in the date's line (or keep the one held); admitted at once when the date has
    free capacity and nobody waits. Raises NOT_FOUND (unknown date, or not of this concert) and
    BOOKING_CLOSED (409: booking not open, or the show has started)."""
    facts = date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    if not facts.booking_open_now():
        raise Conflict(ErrorCode.BOOKING_CLOSED, "Booking is not open for this concert date.")
    keys = QueueKeys(concert_date_id)
    dates_key = dates_with_waiters_key()
    # Every entry marks the date for admission, in the script's round trip. Marking only new waiters
    # would lose a line for good if the mark failed after the script ran: the client's retry finds its
    # place already taken and, with it, no reason to mark again. A date with nobody waiting or admitted
    # is dropped again by the next admission run.
    reply = scripts.run_then(
        scripts.ENTER,
        [keys.waiting, keys.active, keys.seq, keys.seen, keys.admissions, keys.arrived],
        [str(user_id), now_ms(), settings.QUEUE_MAX_ACTIVE, settings.QUEUE_TOKEN_TTL_SECONDS * 1000, RATE_WINDOW_MS],
        then=lambda pipe: pipe.sadd(dates_key, concert_date_id),
    )
    if int(reply[3]):
        metrics.queue_entered()
    return _state_from_script_reply(
        user_id=user_id,
        concert_id=concert_id,
        concert_date_id=concert_date_id,
        reply=reply,
        created=bool(int(reply[3])),
    )


def queue_status(*, user_id: int, concert_id: int, concert_date_id: int) -> QueueState:
    """Where the user stands; polling it is the waiter's heartbeat. Raises NOT_FOUND."""
    date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    keys = QueueKeys(concert_date_id)
    reply = scripts.run(
        scripts.STATUS,
        [keys.waiting, keys.active, keys.seen, keys.admissions],
        [str(user_id), now_ms(), RATE_WINDOW_MS],
    )
    return _state_from_script_reply(
        user_id=user_id, concert_id=concert_id, concert_date_id=concert_date_id, reply=reply
    )


def leave_queue(*, user_id: int, concert_id: int, concert_date_id: int) -> None:
    """Leave the line or give back the access token. Raises NOT_FOUND."""
    date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    end_access(user_id=user_id, concert_date_id=concert_date_id)
