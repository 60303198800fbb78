"""The server's side of the draw anyone can check (draw.py has the formulas): the date's secret, fixed
in Redis before the first pre-queue entry and cached per process (it never changes), each entrant's
key, and the published draw the public endpoints serve.

Durability: the secret, `drawn` and the order are plain Redis keys under the date's hash tag, kept
after the draw (only the operators' reset removes them) and written by Redis's append-only file like
the line itself. They are not copied to the database: losing Redis loses the line the record
describes too, and once published anyone may keep the secret and the order (docs/QUEUE.md).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings

from apps.common.redis import get_redis
from apps.concerts.selectors import DateFacts

from . import draw, redis_scripts
from .keys import QueueKeys, datetime_from_ms, ms_from_datetime, now_ms
from .pace import pace_args

# Redis key of a date's secret → the secret, in this process.
_secrets: dict[str, str] = {}


def new_secret() -> str:
    """256 bits from the OS's CSPRNG, as 64 lowercase hex characters."""
    return secrets.token_hex(32)


def secret_for(concert_date_id: int) -> str:
    """The date's draw secret: the one stored in Redis, created (SET NX) by whoever asks first. One
    round trip the first time a process asks, none after."""
    key = QueueKeys(concert_date_id).secret
    cached = _secrets.get(key)
    if cached is not None:
        return cached
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(key, new_secret(), nx=True)
    pipe.get(key)
    _, stored = pipe.execute()
    secret = stored.decode() if isinstance(stored, bytes) else stored
    _secrets[key] = secret
    return secret


def forget_secret(concert_date_id: int) -> None:
    """Drop the cached secret (ENTER found another one stored, or the date's queue was reset)."""
    _secrets.pop(QueueKeys(concert_date_id).secret, None)


def new_nonce() -> str:
    """The nonce of a buyer who sent none."""
    return secrets.token_hex(16)


def entry_key(*, concert_date_id: int, user_id: int, nonce: str) -> tuple[str, str]:
    """(secret, the buyer's draw key) for a pre-queue entry."""
    secret = secret_for(concert_date_id)
    return secret, draw.draw_key(secret=secret, user_id=user_id, nonce=nonce)


def run_draw(*, concert_date_id: int, opens_ms: int, now: int) -> int:
    """Draw the date's pre-queue if the sale has opened and nobody has yet; how many were drawn."""
    keys = QueueKeys(concert_date_id)
    return redis_scripts.run(
        redis_scripts.DRAW,
        [keys.prequeue, keys.drawkeys, keys.order, keys.waiting, keys.seq, keys.seen, keys.drawn, keys.due],
        [now, opens_ms, *pace_args()[1:]],
    )


@dataclass(frozen=True, kw_only=True)
class PublishedDraw:
    concert_date_id: int
    opens_at: dt.datetime
    commitment: str | None
    algorithm: str
    drawn_at: dt.datetime | None
    secret: str | None
    entrants: int


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _read_after_any_draw(facts: DateFacts, key: str, *, now: int) -> tuple[str | None, str | None]:
    """The date's `drawn` mark and one more of its keys, in one round trip. A read after the opening
    that finds no draw draws first (whoever comes first draws), and then reads again."""
    drawn_key = QueueKeys(facts.concert_date_id).drawn

    def read() -> tuple[str | None, str | None]:
        pipe = get_redis().pipeline(transaction=False)
        pipe.get(drawn_key)
        pipe.get(key)
        drawn, value = pipe.execute()
        return _text(drawn), _text(value)

    drawn, value = read()
    opens_ms = ms_from_datetime(facts.booking_opens_at)
    if drawn is None and now >= opens_ms:
        run_draw(concert_date_id=facts.concert_date_id, opens_ms=opens_ms, now=now)
        drawn, value = read()
    return drawn, value


def published_draw(facts: DateFacts) -> PublishedDraw:
    """The date's draw as the public sees it: the commitment once the pre-queue has opened (fixing the
    secret if nobody has yet), the secret, the time and the number of entrants once drawn. A read
    after the opening draws if nothing else has yet (whoever comes first draws)."""
    now, opens_ms = now_ms(), ms_from_datetime(facts.booking_opens_at)
    drawn, secret = _read_after_any_draw(facts, QueueKeys(facts.concert_date_id).secret, now=now)
    queue_opens_ms = opens_ms - settings.QUEUE_PREQUEUE_SECONDS * 1000
    if drawn is None and secret is None and now >= queue_opens_ms:
        secret = secret_for(facts.concert_date_id)
    drawn_ms, _, entrants = drawn.partition(":") if drawn else ("", "", "0")
    return PublishedDraw(
        concert_date_id=facts.concert_date_id,
        opens_at=facts.booking_opens_at,
        commitment=draw.commitment(secret) if secret else None,
        algorithm=draw.ALGORITHM,
        drawn_at=datetime_from_ms(int(drawn_ms)) if drawn_ms else None,
        secret=secret if drawn else None,
        entrants=int(entrants),
    )


def published_order(facts: DateFacts) -> str | None:
    """The drawn keys, one a line in drawn order; None before the draw. A read after the opening
    draws if nothing else has yet."""
    drawn, order = _read_after_any_draw(facts, QueueKeys(facts.concert_date_id).order, now=now_ms())
    if not drawn:
        return None
    return order or ""
