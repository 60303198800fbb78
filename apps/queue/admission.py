"""Letting waiters through: the admission run (beat-driven) and the operators' reset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from apps.common import metrics
from apps.common.redis import get_redis

from . import scripts
from .keys import QueueKeys, dates_with_waiters_key, now_ms
from .line import RATE_WINDOW_MS

# Waiters dropped for a silent heartbeat per admission run, at most: bounds the script's time.
PRUNE_LIMIT = 1000


@dataclass(frozen=True, kw_only=True)
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
    metrics.admission_run(
        concert_date_id=concert_date_id, admitted=admitted, active=active, waiting=waiting,
        target_active=settings.QUEUE_MAX_ACTIVE,
    )  # fmt: skip
    return AdmissionRun(
        concert_date_id=concert_date_id,
        admitted=admitted,
        pruned_waiters=pruned,
        expired_tokens=expired,
        active=active,
        waiting=waiting,
    )


def admit_all_dates() -> list[AdmissionRun]:
    """One admission run for every date that has had someone waiting (the beat task)."""
    redis = get_redis()
    dates_key = dates_with_waiters_key()
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
