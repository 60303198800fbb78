"""The line itself: entering it, asking where one stands (the waiter's heartbeat), leaving it, and
the wait estimate and polling pace each answer carries."""

from __future__ import annotations

import datetime as dt
import functools
import math
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.exceptions import APIException

from apps.common import metrics
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, ServiceUnavailable, ValidationFailed
from apps.concerts.seat_counts import SeatCounts, counts_key, read_or_rebuild
from apps.concerts.selectors import DateFacts, date_of_concert, in_booking_window

from . import draw, lottery, redis_scripts
from .access import AccessCheck
from .keys import QueueKeys, dates_with_waiters_key, datetime_from_ms, iso_utc, ms_from_datetime, now_ms
from .models import QueueStatus
from .pace import pace_args, poll_cap_seconds
from .tokens import end_access, make_token

RATE_WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True, kw_only=True)
class QueueState:
    user_id: int
    concert_id: int
    concert_date_id: int
    status: QueueStatus
    position: int | None = 0  # None: pre-queued, the place is drawn at the opening
    number: int | None = None  # a waiter's number in the line: fixed for the wait, admitted in its order
    estimated_wait_seconds: int | None = None
    token: str | None = None
    expires_at: dt.datetime | None = None
    poll_after_seconds: int | None = None
    opens_at: dt.datetime | None = None  # set while pre-queued: when the sale opens and places are drawn
    seats_available: int | None = None  # the date's free seats, read in the answer's round trip
    seats_held: int | None = None  # the date's seats in holds (they may come back)
    draw_nonce: str | None = None  # set while pre-queued: the nonce of the buyer's draw key
    created: bool = False


def _check_entry_window(facts: DateFacts, now: int) -> None:
    """Entry follows the booking rule with the window opened QUEUE_PREQUEUE_SECONDS early (the
    pre-queue). Raises BOOKING_CLOSED (409), with `queue_opens_at` when it is only too early."""
    queue_opens_at = facts.booking_opens_at - dt.timedelta(seconds=settings.QUEUE_PREQUEUE_SECONDS)
    moment = datetime_from_ms(now)
    if in_booking_window(
        booking_open=facts.booking_open, booking_opens_at=queue_opens_at, starts_at=facts.starts_at, now=moment
    ):
        return
    if facts.booking_open and moment < queue_opens_at:
        raise Conflict(
            ErrorCode.BOOKING_CLOSED,
            "The queue for this concert date is not open yet.",
            details={"queue_opens_at": iso_utc(queue_opens_at)},
        )
    raise Conflict(ErrorCode.BOOKING_CLOSED, "Booking is not open for this concert date.")


class SoldOut(Conflict):
    """SOLD_OUT (409): queue entry into a date with no free seat and no live hold."""

    def __init__(self) -> None:
        super().__init__(
            ErrorCode.SOLD_OUT, "This concert date is sold out. Seats that come back reopen the line in its order."
        )


# --- Estimated wait and polling ---------------------------------------------------------------


def _configured_admissions_per_second() -> float:
    """The pace assumed before any admission has been observed: the batch per interval (fixed);
    the least target turning over once per idle period (auto: a conservative guess)."""
    if settings.QUEUE_ADMISSION == "fixed":
        return settings.QUEUE_ADMIT_BATCH / settings.QUEUE_ADMIT_INTERVAL_SECONDS
    return settings.QUEUE_MIN_ACTIVE / settings.QUEUE_ACTIVE_IDLE_SECONDS


def _admissions_per_second(total: int, span_ms: int) -> float:
    """Admissions per second observed over the window; the configured pace until the window holds
    admissions spanning two admission intervals."""
    if total <= 0 or span_ms < 2 * settings.QUEUE_ADMIT_INTERVAL_SECONDS * 1000:
        return _configured_admissions_per_second()
    return total / (span_ms / 1000)


def poll_after_seconds(position: int, estimated_wait: int, line_length: int = 0) -> int:
    """Near the front poll every few seconds; further back less often: at least every 30-60 s
    beyond twenty batches, and in a long line at `position x ln(length) / QUEUE_POLL_BUDGET`, which
    keeps the polls of the whole line near QUEUE_POLL_BUDGET a second (the harmonic sum over the
    places), so 20,000 waiters do not cost 500 requests a second. Never later than half the wait
    (a waiter must not miss the turn), never so rarely that the heartbeat drops the waiter."""
    batch = max(settings.QUEUE_ADMIT_BATCH, 1)
    if position <= batch:
        base = random.uniform(2, 4)
    elif position <= 5 * batch:
        base = random.uniform(5, 10)
    elif position <= 20 * batch:
        base = random.uniform(15, 30)
    else:
        base = random.uniform(30, 60)
    paced = position * math.log(max(line_length, position) + 1) / max(settings.QUEUE_POLL_BUDGET, 1)
    base = max(base, paced * random.uniform(0.8, 1.2))
    base = min(base, max(estimated_wait / 2, 2))
    return max(1, min(int(base), poll_cap_seconds()))


def prequeue_poll_after_seconds(until_open_ms: int, *, quantile: float | None = None, prequeue_size: int = 0) -> int:
    """Pre-queued buyers poll every 30-60 s (longer in a big pre-queue, to stay within
    QUEUE_POLL_BUDGET), then once after the opening to learn the drawn place: in the order of the
    draw (`quantile`, the buyer's share of the pre-queue drawn ahead of it), over a window of
    `prequeue_size / QUEUE_POLL_BUDGET` seconds (at least ten), so the buyers drawn first ask first
    and the whole pre-queue does not ask in the same few seconds."""
    budget = max(settings.QUEUE_POLL_BUDGET, 1)
    cap = poll_cap_seconds()
    base = min(max(random.uniform(30, 60), prequeue_size / budget * random.uniform(0.8, 1.2)), cap)
    if until_open_ms / 1000 >= base:
        return max(1, int(base))
    window = min(max(prequeue_size / budget, 10), cap)
    place = random.random() if quantile is None else quantile
    after_opening = 1 + place * window + random.uniform(0, 1)
    return max(1, int(max(until_open_ms, 0) / 1000 + after_opening))


def held_seats_poll_after_seconds(line_length: int) -> int:
    """While every seat is held (none free), admission waits for holds to end, and the sale's outcome
    is decided within a hold's lifetime: the line polls every 15-27 s, so that when the last held seat
    is paid every waiter hears SOLD_OUT within half a minute (longer in a long line, all of it within
    QUEUE_POLL_BUDGET), within the heartbeat's cap."""
    budget = max(settings.QUEUE_POLL_BUDGET, 1)
    base = max(random.uniform(15, 27), line_length / budget * random.uniform(0.8, 1.2))
    return max(1, min(int(base), poll_cap_seconds()))


def _seat_counts(concert_date_id: int, reply: list[Any]) -> SeatCounts:
    """The seat counts the script appended to its reply (its two last items); when the key was missing
    (-1), rebuilt from the database and stored (the rare path: a round trip and two queries more)."""
    available, held = int(reply[-2]), int(reply[-1])
    if available < 0 or held < 0:
        return read_or_rebuild(concert_date_id=concert_date_id)
    return SeatCounts(available=available, held=held)


def _state_from_script_reply(
    *,
    user_id: int,
    concert_id: int,
    facts: DateFacts,
    reply: list[Any],
    now: int,
    counts: SeatCounts,
    created: bool = False,
) -> QueueState:
    """Turn ENTER's or STATUS's reply ({status, position, expires_ms, created, then admitted, span,
    line length and number for a waiter, or quantile, pre-queue size for the pre-queued}) and the date's seat
    counts into the buyer's state: the token for READY (kept when sold out: an admitted buyer may
    still hold a seat that comes back, or pay for a held one); SOLD_OUT for everyone else when no
    seat is free or held; the estimate and polling pace for WAITING (slow while every seat is held);
    the opening and the first poll after it for the pre-queued (position -1)."""
    raw_status = reply[0].decode() if isinstance(reply[0], bytes) else reply[0]
    status, position, expires_ms = QueueStatus(raw_status), int(reply[1]), int(reply[2])
    concert_date_id = facts.concert_date_id
    who = {
        "user_id": user_id,
        "concert_id": concert_id,
        "concert_date_id": concert_date_id,
        "created": created,
        "seats_available": counts.available,
        "seats_held": counts.held,
    }
    if status != QueueStatus.READY and (status == QueueStatus.SOLD_OUT or counts.sold_out):
        return QueueState(**who, status=QueueStatus.SOLD_OUT, position=None)
    if status == QueueStatus.READY:
        return QueueState(
            **who,
            status=status,
            estimated_wait_seconds=0,
            token=make_token(user_id=user_id, concert_date_id=concert_date_id, expires_ms=expires_ms),
            expires_at=datetime_from_ms(expires_ms),
        )
    if status == QueueStatus.WAITING and position == redis_scripts.NO_POSITION:
        raw_quantile, nonce = int(reply[4]), reply[6]
        return QueueState(
            **who,
            status=status,
            position=None,
            opens_at=facts.booking_opens_at,
            draw_nonce=(nonce.decode() if isinstance(nonce, bytes) else nonce) or None,
            poll_after_seconds=prequeue_poll_after_seconds(
                ms_from_datetime(facts.booking_opens_at) - now,
                quantile=None if raw_quantile < 0 else raw_quantile / 2**32,
                prequeue_size=int(reply[5]),
            ),
        )
    if status == QueueStatus.WAITING:
        rate = _admissions_per_second(int(reply[4]), int(reply[5]))
        wait = math.ceil(position / rate) if rate > 0 else None
        line_length = int(reply[6])
        return QueueState(
            **who,
            status=status,
            position=position,
            number=int(float(reply[7])),
            estimated_wait_seconds=wait,
            poll_after_seconds=(
                poll_after_seconds(position, wait or 0, line_length)
                if counts.available > 0
                else held_seats_poll_after_seconds(line_length)
            ),
        )
    return QueueState(**who, status=status)


# --- Enter, status, leave ----------------------------------------------------------------------

# ENTER's and STATUS's keys by name (keys.QueueKeys), in the order of their shared layout (lua/common.lua
# line_keys); the date's seat counts follow as the last key.
LINE_KEYS = (
    "waiting", "active", "seq", "seen", "admissions", "arrived", "prequeue", "drawn", "idle", "control", "secret",
    "drawkeys", "order", "due", "parked",
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _line_keys(prefix: str, concert_date_id: int) -> tuple[str, ...]:
    """A date's keys for ENTER and STATUS, built once per process and key prefix (`prefix`, the cache's
    key: a poll would otherwise format sixteen strings, ~50 us of its CPU)."""
    keys = QueueKeys(concert_date_id)
    return (*(getattr(keys, name) for name in LINE_KEYS), counts_key(concert_date_id))


def _line_args(*, user_id: int, now: int, opens_ms: int) -> list[Any]:
    """ENTER's and STATUS's arguments in their shared layout (lua/common.lua line_ask)."""
    auto = settings.QUEUE_ADMISSION == "auto"
    return [
        str(user_id),
        now,
        settings.QUEUE_MIN_ACTIVE if auto else settings.QUEUE_MAX_ACTIVE,
        1 if auto else 0,
        settings.QUEUE_TOKEN_TTL_SECONDS * 1000,
        RATE_WINDOW_MS,
        opens_ms,
        settings.QUEUE_ACTIVE_IDLE_SECONDS * 1000,
        *pace_args(),
    ]


def enter_queue(
    *,
    user_id: int,
    concert_id: int,
    concert_date_id: int,
    access: AccessCheck | None = None,
    draw_nonce: str | None = None,
) -> QueueState:
    """Take a place in the date's line (or keep the one held). Before the sale opens (within
    QUEUE_PREQUEUE_SECONDS of it) the buyer joins the pre-queue and gets a drawn place at the
    opening; after it, places are first come, first served, and an entrant is admitted at once when
    the date has free capacity and nobody waits. Raises NOT_FOUND (unknown date, or not of this
    concert), BOOKING_CLOSED (409: too early, booking closed, or the show has started) and SOLD_OUT
    (409: no free seat and no hold; a buyer already admitted keeps READY, one already waiting keeps
    the place for when seats come back). A pre-queue entry's draw key is made with `draw_nonce` (a
    random one without it; VALIDATION_ERROR for one that is not 1-64 printable ASCII characters).
    `access` (the request's token revocation and rate limits) is checked in the same round trip:
    401 or 429 then, and an entry the refused request made is taken back."""
    if draw_nonce is not None and not draw.valid_nonce(draw_nonce):
        raise ValidationFailed(details={"draw_nonce": ["1-64 printable ASCII characters."]})
    facts = date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    now = now_ms()
    _check_entry_window(facts, now)
    # Only an entry before the opening joins the pre-queue and needs its draw key (same clock as the
    # script's: ENTER is told `now`).
    opens_ms = ms_from_datetime(facts.booking_opens_at)
    nonce = (draw_nonce or lottery.new_nonce()) if now < opens_ms else ""
    secret, key = (
        lottery.entry_key(concert_date_id=concert_date_id, user_id=user_id, nonce=nonce) if nonce else ("", "")
    )
    dates_key = dates_with_waiters_key()
    # Every entry marks the date for admission, in the script's round trip. Marking only new waiters
    # would lose a line for good if the mark failed after the script ran: the client's retry finds its
    # place already taken and, with it, no reason to mark again. A date with nobody waiting or admitted
    # is dropped again by the next admission run.
    script_keys = list(_line_keys(settings.REDIS_KEY_PREFIX, concert_date_id))
    args = [*_line_args(user_id=user_id, now=now, opens_ms=opens_ms), secret, key, nonce]
    draw_args = len(args) - 3  # where the secret and the draw key stand (ARGV 12, 13)
    checked, reply = redis_scripts.run_in_round_trip(
        redis_scripts.ENTER,
        script_keys,
        args,
        before=access.queue if access else None,
        after=lambda pipe: pipe.sadd(dates_key, concert_date_id),
    )
    # The rare paths, where the script changed nothing: the stored secret is not this process's (the
    # queue was reset: fetch it and key again), or the seat counts had expired (rebuilt from the
    # database, about once per COUNTS_TTL_SECONDS and date). Then the entry once more, alone (the
    # access check and the date's mark already ran).
    for _ in range(2):
        if reply[0] == redis_scripts.STALE:
            lottery.forget_secret(concert_date_id)
            args[draw_args : draw_args + 2] = lottery.entry_key(
                concert_date_id=concert_date_id, user_id=user_id, nonce=nonce
            )
        elif reply[0] == redis_scripts.NEED_COUNTS:
            read_or_rebuild(concert_date_id=concert_date_id)
        else:
            break
        reply = redis_scripts.run(redis_scripts.ENTER, script_keys, args)
    if reply[0] in (redis_scripts.STALE, redis_scripts.NEED_COUNTS):
        raise ServiceUnavailable("The queue changed while entering (a reset, or counts being rebuilt); try again.")
    created = bool(int(reply[3]))
    if access is not None:
        try:
            access.enforce(checked)
        except APIException:
            if created:
                end_access(user_id=user_id, concert_date_id=concert_date_id)
            raise
    counts = _seat_counts(concert_date_id, reply)
    state = _state_from_script_reply(
        user_id=user_id, concert_id=concert_id, facts=facts, reply=reply, now=now, counts=counts, created=created
    )
    if state.status == QueueStatus.SOLD_OUT:
        raise SoldOut()  # a buyer already waiting keeps the place for when seats come back
    if created:
        metrics.queue_entered()
    return state


def queue_status(
    *, user_id: int, concert_id: int, concert_date_id: int, access: AccessCheck | None = None
) -> QueueState:
    """Where the user stands; polling it is the waiter's heartbeat. Raises NOT_FOUND; with `access`,
    401 (revoked token) from the same round trip."""
    facts = date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    now = now_ms()
    checked, reply = redis_scripts.run_in_round_trip(
        redis_scripts.STATUS,
        list(_line_keys(settings.REDIS_KEY_PREFIX, concert_date_id)),
        _line_args(user_id=user_id, now=now, opens_ms=ms_from_datetime(facts.booking_opens_at)),
        before=access.queue if access else None,
    )
    if access is not None:
        access.enforce(checked)  # what the script did (a heartbeat, perhaps the draw) is harmless
    counts = _seat_counts(concert_date_id, reply)
    return _state_from_script_reply(
        user_id=user_id, concert_id=concert_id, facts=facts, reply=reply, now=now, counts=counts
    )


def leave_queue(*, user_id: int, concert_id: int, concert_date_id: int, access: AccessCheck | None = None) -> None:
    """Leave the line or the pre-queue, or give back the access token. Raises NOT_FOUND; with
    `access`, checks it first in a round trip of its own (a revoked token must not be able to take
    its owner out of the line)."""
    date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)
    if access is not None:
        access.check_now()
    end_access(user_id=user_id, concert_date_id=concert_date_id)
