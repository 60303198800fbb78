"""Access tokens: who has been let through the waiting room, for which date, until when.

An access token is `signing.dumps({"u": user, "d": date, "e": expiry_ms})` — HMAC-signed with a key
derived from SECRET_KEY, checked in constant time — and its record in Redis is the user's entry in
the date's `active` sorted set, scored with the same expiry. A token is valid while its signature is
good, its claims name this user and date, it has not expired, and `active` still holds that exact
expiry: removing the entry (payment completed, user left, operator reset) revokes it at once, and a
later admission (a new expiry) makes older tokens of that user useless.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from redis.client import Pipeline

from apps.common import lua
from apps.common.redis import get_redis

from . import redis_scripts
from .keys import QueueKeys, datetime_from_ms, ms_from_datetime, now_ms

TOKEN_SALT = "queue.access-token"
MAX_TOKEN_LENGTH = 512
END_ACCESS_GRANTED_BY = lua.load(__file__, "end_access_granted_by")


@dataclass(frozen=True)
class AccessGrant:
    token: str
    expires_at: dt.datetime


def make_token(*, user_id: int, concert_date_id: int, expires_ms: int) -> str:
    return signing.dumps({"u": int(user_id), "d": int(concert_date_id), "e": int(expires_ms)}, salt=TOKEN_SALT)


def _verified_claims(token: str) -> dict[str, int] | None:
    """The token's claims if its signature is good and they have the expected shape, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claims, dict) or not all(isinstance(claims.get(k), int) for k in ("u", "d", "e")):
        return None
    return claims


@dataclass(frozen=True)
class TokenCheck:
    """What is left to check of a token whose signature and claims hold: its record in Redis and the
    buyer's idle deadline (the CHECK script, which also moves the deadline on). `concert_date_id` is
    the date the token is for."""

    keys: list[str]
    args: list[object]
    concert_date_id: int

    def run(self) -> bool:
        return bool(redis_scripts.run(redis_scripts.CHECK, self.keys, self.args))

    def run_in_round_trip(self, *, before: Callable[[Pipeline], None]) -> tuple[list, bool]:
        """The check with the commands `before` queues, in one round trip: (their replies, valid)."""
        replies, valid = redis_scripts.run_in_round_trip(redis_scripts.CHECK, self.keys, self.args, before=before)
        return replies, bool(valid)


def token_check(*, token: str, user_id: int, concert_date_id: int | None = None) -> TokenCheck | None:
    """The Redis half of the check for a token whose signature and claims (this user, this date, not
    expired) hold in process; None when they do not (the token is refused without a round trip).
    `concert_date_id=None`: the date the token's own signed claims name (the caller then checks that
    what the request is about belongs to that date)."""
    claims = _verified_claims(token)
    if claims is None or claims["u"] != int(user_id):
        return None
    if concert_date_id is not None and claims["d"] != int(concert_date_id):
        return None
    now = now_ms()
    if claims["e"] <= now:
        return None
    keys = QueueKeys(claims["d"])
    return TokenCheck(
        keys=[keys.active, keys.idle],
        args=[str(int(user_id)), claims["e"], now, settings.QUEUE_ACTIVE_IDLE_SECONDS * 1000],
        concert_date_id=claims["d"],
    )


def issue_access_token(*, user_id: int, concert_date_id: int) -> AccessGrant:
    """Admit a user directly, past the line (operators, tests, benchmarks)."""
    keys = QueueKeys(concert_date_id)
    now = now_ms()
    expires = now + settings.QUEUE_TOKEN_TTL_SECONDS * 1000
    pipe = get_redis().pipeline(transaction=True)
    pipe.zrem(keys.waiting, str(user_id))
    pipe.srem(keys.prequeue, str(user_id))
    pipe.zrem(keys.seen, str(user_id))
    pipe.zrem(keys.due, str(user_id))
    pipe.zrem(keys.parked, str(user_id))
    pipe.hdel(keys.arrived, str(user_id))
    pipe.zadd(keys.active, {str(user_id): expires})
    pipe.zadd(keys.idle, {str(user_id): now + settings.QUEUE_ACTIVE_IDLE_SECONDS * 1000})
    pipe.execute()
    token = make_token(user_id=user_id, concert_date_id=concert_date_id, expires_ms=expires)
    return AccessGrant(token=token, expires_at=datetime_from_ms(expires))


def end_access(*, user_id: int, concert_date_id: int) -> bool:
    """Leave the line or give back the access token; True if the user was in either."""
    keys = QueueKeys(concert_date_id)
    return bool(
        redis_scripts.run(
            redis_scripts.LEAVE,
            [keys.waiting, keys.active, keys.seen, keys.arrived, keys.prequeue, keys.idle, keys.due, keys.parked],
            [str(user_id)],
        )
    )


def latest_expiry_of_access_granted_by(moment: dt.datetime) -> int:
    """The latest expiry (ms) an access granted at or before `moment` can have: every admission
    gives QUEUE_TOKEN_TTL_SECONDS from the moment it is made."""
    return ms_from_datetime(moment) + settings.QUEUE_TOKEN_TTL_SECONDS * 1000


def access_end_call(*, user_id: int, concert_date_id: int, expiring_by_ms: int) -> lua.Call:
    """The script that ends the user's access to the date if its expiry is at most `expiring_by_ms`
    (it was granted by then; see `latest_expiry_of_access_granted_by`), atomically; its reply is 1 if
    it ended. An access granted later, and the user's place in the line, are left alone: an effect
    that runs late ends only the access it is about. Returned for its caller to run (a payment's outbox
    effect, whose fast path sends it in the request's one round trip after commit)."""
    keys = QueueKeys(concert_date_id)
    return lua.Call(END_ACCESS_GRANTED_BY, [keys.active, keys.idle], [str(int(user_id)), int(expiring_by_ms)])
