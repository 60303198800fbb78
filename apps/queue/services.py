"""The per-date virtual waiting room (Redis) and its access tokens.

An access token is `signing.dumps({"u": user, "d": date, "e": expiry_ms})` — HMAC-signed with a key
derived from SECRET_KEY, checked in constant time — and its record in Redis is the user's entry in
the date's `active` sorted set, scored with the same expiry. A token is valid while its signature is
good, its claims name this user and date, it has not expired, and `active` still holds that exact
expiry: removing the entry (payment completed, user left, operator reset) revokes it at once, and a
later admission (a new expiry) makes older tokens of that user useless.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, NotFound
from apps.common.redis import get_redis, redis_key
from apps.concerts.selectors import date_facts

from . import scripts

TOKEN_SALT = "queue.access-token"
RATE_WINDOW_MS = 5 * 60 * 1000
PRUNE_LIMIT = 1000
DATES_WITH_WAITERS = "queue:dates"


class Status:
    WAITING = "WAITING"
    READY = "READY"
    NOT_IN_QUEUE = "NOT_IN_QUEUE"


@dataclass(frozen=True)
class QueueKeys:
    concert_date_id: int

    def _key(self, name: str) -> str:
        return redis_key("queue", f"{{{self.concert_date_id}}}", name)

    @property
    def waiting(self) -> str:
        return self._key("waiting")

    @property
    def active(self) -> str:
        return self._key("active")

    @property
    def seq(self) -> str:
        return self._key("seq")

    @property
    def seen(self) -> str:
        return self._key("seen")

    @property
    def arrived(self) -> str:
        return self._key("arrived")

    @property
    def admissions(self) -> str:
        return self._key("admissions")

    def all(self) -> list[str]:
        return [self.waiting, self.active, self.seq, self.seen, self.arrived, self.admissions]


@dataclass(frozen=True)
class QueueState:
    user_id: int
    concert_id: int
    concert_date_id: int
    status: str
    position: int
    estimated_wait_seconds: int | None
    token: str | None
    expires_at: dt.datetime | None
    poll_after_seconds: int | None
    created: bool = False


@dataclass(frozen=True)
class AccessGrant:
    token: str
    expires_at: dt.datetime


def now_ms() -> int:
    return int(time.time() * 1000)


def _from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def make_token(*, user_id: int, concert_date_id: int, expires_ms: int) -> str:
    return signing.dumps({"u": int(user_id), "d": int(concert_date_id), "e": int(expires_ms)}, salt=TOKEN_SALT)


def _claims(token: str) -> dict[str, int] | None:
    if not token or len(token) > 512:
        return None
    try:
        claims = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k), int) for k in ("u", "d", "e")):
        return None
    return claims


def check_access_token(*, token: str, user_id: int, concert_date_id: int) -> bool:
    """Signature, claims (this user, this date, not expired) and the Redis record all agree."""
    claims = _claims(token)
    if claims is None or claims["u"] != int(user_id) or claims["d"] != int(concert_date_id):
        return False
    if claims["e"] <= now_ms():
        return False
    recorded = get_redis().zscore(QueueKeys(int(concert_date_id)).active, str(int(user_id)))
    return recorded is not None and int(recorded) == claims["e"]


def issue_access_token(*, user_id: int, concert_date_id: int) -> AccessGrant:
    """Admit a user directly, past the line (operators, tests, benchmarks)."""
    keys = QueueKeys(concert_date_id)
    expires = now_ms() + settings.QUEUE_TOKEN_TTL_SECONDS * 1000
    redis = get_redis()
    pipe = redis.pipeline(transaction=True)
    pipe.zrem(keys.waiting, str(user_id))
    pipe.zrem(keys.seen, str(user_id))
    pipe.hdel(keys.arrived, str(user_id))
    pipe.zadd(keys.active, {str(user_id): expires})
    pipe.execute()
    return AccessGrant(
        make_token(user_id=user_id, concert_date_id=concert_date_id, expires_ms=expires), _from_ms(expires)
    )


def end_access(*, user_id: int, concert_date_id: int) -> bool:
    """Leave the line or give back the access token; True if the user was in either."""
    keys = QueueKeys(concert_date_id)
    return bool(scripts.run(scripts.LEAVE, [keys.waiting, keys.active, keys.seen, keys.arrived], [str(user_id)]))


# --- Estimated wait and polling ---------------------------------------------------------------


def _rate(total: int, span_ms: int) -> float:
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
    return _rate(int(total), int(span_ms))


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


def _state(*, user_id: int, concert_id: int, concert_date_id: int, raw: list[Any], created: bool = False) -> QueueState:
    status, position, expires_ms = raw[0], int(raw[1]), int(raw[2])
    if isinstance(status, bytes):
        status = status.decode()
    if status == Status.READY:
        return QueueState(
            user_id, concert_id, concert_date_id, Status.READY, 0, 0,
            make_token(user_id=user_id, concert_date_id=concert_date_id, expires_ms=expires_ms),
            _from_ms(expires_ms), None, created,
        )  # fmt: skip
    if status == Status.WAITING:
        rate = _rate(int(raw[4]), int(raw[5]))
        wait = math.ceil(position / rate) if rate > 0 else None
        poll = poll_after_seconds(position, wait or 0)
        return QueueState(
            user_id, concert_id, concert_date_id, Status.WAITING, position, wait, None, None, poll, created
        )
    return QueueState(user_id, concert_id, concert_date_id, Status.NOT_IN_QUEUE, 0, None, None, None, None, created)


# --- Enter, status, leave ----------------------------------------------------------------------


def enter_queue(*, user_id: int, concert_id: int, concert_date_id: int) -> QueueState:
    """Take a place in the date's line (or keep the one held); admitted at once when the date has
    free capacity and nobody waits. Raises NOT_FOUND (unknown date, or not of this concert) and
    BOOKING_CLOSED (409: booking not open, or the show has started)."""
    facts = date_facts(concert_date_id)
    if facts is None or facts.concert_id != concert_id:
        raise NotFound("Unknown concert date.")
    if not facts.booking_open_now():
        raise Conflict(ErrorCode.BOOKING_CLOSED, "Booking is not open for this concert date.")
    keys = QueueKeys(concert_date_id)
    dates_key = redis_key(DATES_WITH_WAITERS)
    # Every entry marks the date for admission, in the script's round trip. Marking only new waiters
    # would lose a line for good if the mark failed after the script ran: the client's retry finds its
    # place already taken and, with it, no reason to mark again. A date with nobody waiting or admitted
    # is dropped again by the next admission run.
    raw = scripts.run_then(
        scripts.ENTER,
        [keys.waiting, keys.active, keys.seq, keys.seen, keys.admissions, keys.arrived],
        [str(user_id), now_ms(), settings.QUEUE_MAX_ACTIVE, settings.QUEUE_TOKEN_TTL_SECONDS * 1000, RATE_WINDOW_MS],
        then=lambda pipe: pipe.sadd(dates_key, concert_date_id),
    )
    return _state(
        user_id=user_id, concert_id=concert_id, concert_date_id=concert_date_id, raw=raw, created=bool(int(raw[3]))
    )


def queue_status(*, user_id: int, concert_id: int, concert_date_id: int) -> QueueState:
    """Where the user stands; polling it is the waiter's heartbeat."""
    facts = date_facts(concert_date_id)
    if facts is None or facts.concert_id != concert_id:
        raise NotFound("Unknown concert date.")
    keys = QueueKeys(concert_date_id)
    raw = scripts.run(
        scripts.STATUS,
        [keys.waiting, keys.active, keys.seen, keys.admissions],
        [str(user_id), now_ms(), RATE_WINDOW_MS],
    )
    return _state(user_id=user_id, concert_id=concert_id, concert_date_id=concert_date_id, raw=raw)


def leave_queue(*, user_id: int, concert_id: int, concert_date_id: int) -> None:
    facts = date_facts(concert_date_id)
    if facts is None or facts.concert_id != concert_id:
        raise NotFound("Unknown concert date.")
    end_access(user_id=user_id, concert_date_id=concert_date_id)


# --- Admission -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionRun:
    concert_date_id: int
    admitted: int
    pruned_waiters: int
    expired_tokens: int
    active: int
    waiting: int


def admit_next_batch(*, concert_date_id: int, count: int | None = None) -> AdmissionRun:
    """Admit up to QUEUE_ADMIT_BATCH (or `count`) waiters in arrival order, never beyond
    QUEUE_MAX_ACTIVE at a time. Expired tokens free their places and waiters silent for longer than
    QUEUE_HEARTBEAT_TIMEOUT_SECONDS lose theirs first. One script: two runs at once cannot overshoot."""
    keys = QueueKeys(concert_date_id)
    now = now_ms()
    admitted, pruned, expired, active, waiting = scripts.run(
        scripts.ADMIT,
        [keys.waiting, keys.active, keys.seen, keys.admissions, keys.arrived],
        [
            now,
            settings.QUEUE_ADMIT_BATCH if count is None else count,
            settings.QUEUE_MAX_ACTIVE,
            settings.QUEUE_TOKEN_TTL_SECONDS * 1000,
            now - settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS * 1000,
            RATE_WINDOW_MS,
            PRUNE_LIMIT,
            uuid.uuid4().hex[:8],
        ],
    )
    return AdmissionRun(concert_date_id, admitted, pruned, expired, active, waiting)


def admit_all_dates() -> list[AdmissionRun]:
    """One admission run for every date that has had someone waiting (the beat task)."""
    redis = get_redis()
    dates_key = redis_key(DATES_WITH_WAITERS)
    runs = []
    for raw_id in redis.smembers(dates_key):
        run = admit_next_batch(concert_date_id=int(raw_id))
        runs.append(run)
        if run.waiting == 0 and run.active == 0:
            redis.srem(dates_key, raw_id)
            # An entrant may have joined between the script and the SREM (its own SADD came before
            # ours): look again, after the SREM, so the date is never dropped with someone waiting.
            if redis.zcard(QueueKeys(int(raw_id)).waiting):
                redis.sadd(dates_key, raw_id)
    return runs


def reset_queue(*, concert_date_id: int) -> None:
    """Operators: empty the date's line and revoke every access token of it."""
    get_redis().delete(*QueueKeys(concert_date_id).all())
