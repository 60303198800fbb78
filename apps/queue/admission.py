"""Letting waiters through: the admission run (beat, every QUEUE_ADMIT_INTERVAL_SECONDS), which also
draws the pre-queue at the opening and takes back places that ended, and the operators' reset."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings

from apps.common import metrics
from apps.common.redis import get_redis
from apps.concerts.seat_counts import counts_key, read_counts
from apps.concerts.selectors import date_facts

from . import lottery, redis_scripts
from .controller import (
    LOOKBACK_SECONDS,
    BookingLoad,
    ControllerState,
    Decision,
    Limits,
    decide,
    departed_since,
)
from .keys import QueueKeys, dates_with_waiters_key, ms_from_datetime, now_ms
from .line import RATE_WINDOW_MS
from .pace import pace_args, poll_cap_seconds

# Entries each clean-up of one run handles at most (expired tokens, idle buyers, silent waiters):
# bounds the script's time; the rest go in the next run.
CLEANUP_LIMIT = 1000
# How long the claim to decide after a decision is kept (longer than any interval between two runs).
DECIDING_CLAIM_MS = 120_000


@dataclass(frozen=True, kw_only=True)
class AdmissionRun:
    concert_date_id: int
    admitted: int
    pruned_waiters: int
    expired_tokens: int
    idle_reclaimed: int
    active: int
    waiting: int
    prequeued: int  # in the pre-queue, waiting for the draw
    drawn: int  # pre-queued buyers given a place by this run's draw
    passed_over: int  # waiters this run passed over, late for their due poll by more than the grace
    parked: int  # waiters passed over and not back since (they keep their numbers until the heartbeat ends them)
    capacity: int  # the admitted count this run aimed at (auto) or QUEUE_MAX_ACTIVE (fixed)
    decision: Decision | None  # the controller's decision (auto), None when it did not decide


def _opens_ms(concert_date_id: int) -> int:
    """When the date's sale opens, in epoch ms (0 for an unknown date: nothing to wait for)."""
    facts = date_facts(concert_date_id)
    return ms_from_datetime(facts.booking_opens_at) if facts else 0


def _admitted_since(runs: list[bytes | str]) -> int:
    """Buyers admitted from the line by the recorded runs ("<ms>:<admitted>:<run id>", redis_scripts.ADMIT)."""
    return sum(int((run.decode() if isinstance(run, bytes) else run).split(":")[1]) for run in runs)


def _decide(*, keys: QueueKeys, now: int) -> tuple[ControllerState, Decision, ControllerState] | None:
    """Read the controller's state, the booking-path histograms and the admissions since its last
    decision and the date's counts, and decide how many to admit: (state read, decision, next state),
    or None when another run decided moments ago (beat replicas: only one of them admits)."""
    limits = Limits.from_settings()
    redis = get_redis()
    state = ControllerState.from_redis(redis.hgetall(keys.control), initial_target=limits.min_active)
    first = max((state.decided_at or now - limits.interval_ms) // 1000, now // 1000 - LOOKBACK_SECONDS)
    pipe = redis.pipeline(transaction=False)
    for second in range(first, now // 1000):
        pipe.hgetall(keys.latency(second))
    pipe.zcount(keys.active, now + 1, "+inf")
    pipe.zcard(keys.waiting)
    pipe.zrangebyscore(keys.admissions, state.decided_at if state.decided_at is not None else "+inf", "+inf")
    *histograms, active, waiting, runs = pipe.execute()
    load = BookingLoad.from_histograms(histograms)
    departed = departed_since(state=state, admitted_since=_admitted_since(runs), active=active)
    decided = decide(state=state, load=load, active=active, waiting=waiting, departed=departed, now=now, limits=limits)
    if decided is None or not redis.set(keys.deciding(state.decided_at or 0), now, nx=True, px=DECIDING_CLAIM_MS):
        return None
    return (state, *decided)


def admit_next_batch(*, concert_date_id: int, count: int | None = None, now: int | None = None) -> AdmissionRun:
    """One admission run for a date. Draws the pre-queue once the sale has opened; ends expired tokens
    and the places of admitted buyers idle past QUEUE_ACTIVE_IDLE_SECONDS; drops waiters silent for
    longer than QUEUE_HEARTBEAT_TIMEOUT_SECONDS; then admits in order of place: as many as the
    controller decides (auto: about the departures since the last run, braked by latency), or
    QUEUE_ADMIT_BATCH (fixed), never beyond QUEUE_MAX_ACTIVE, never more than the date's free
    seats (nobody while none is free: admitting into a sold-out or fully held date only wastes the
    place), and never more admitted in all than the free and held seats serve at the mean seats a
    hold takes (docs/QUEUE.md); `count` caps the run further. One script: runs racing each other
    (beat replicas) cannot overshoot or draw twice, and only one of them admits (auto) and applies
    its decision.
    While the date is sold out, silent waiters keep their places (they were told to stop asking)
    until QUEUE_HEARTBEAT_TIMEOUT_SECONDS after it last was."""
    keys = QueueKeys(concert_date_id)
    now = now_ms() if now is None else now
    auto = settings.QUEUE_ADMISSION == "auto"
    decided = _decide(keys=keys, now=now) if auto else None
    seen, decision, next_state = decided if decided is not None else (None, None, None)
    # auto: what the decision says (nothing when another run decided moments ago); fixed: the batch.
    batch = (0 if decision is None else decision.admit) if auto else settings.QUEUE_ADMIT_BATCH
    if count is not None:
        batch = min(batch, count)
    read_counts(concert_date_id=concert_date_id)  # rebuilt here if missing: the script reads the key
    admitted, pruned, expired, idled, active, waiting, prequeued, drawn, capacity, passed, parked = redis_scripts.run(
        redis_scripts.ADMIT,
        [
            keys.waiting, keys.active, keys.seen, keys.admissions, keys.arrived, keys.prequeue,
            keys.seq, keys.drawn, keys.idle, keys.control, keys.decisions, keys.drawkeys, keys.order,
            keys.due, keys.parked, counts_key(concert_date_id),
        ],
        [
            now,
            batch,
            settings.QUEUE_MAX_ACTIVE,
            0,  # the script admits up to `batch` within QUEUE_MAX_ACTIVE in both modes
            settings.QUEUE_TOKEN_TTL_SECONDS * 1000,
            now - settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS * 1000,
            RATE_WINDOW_MS,
            CLEANUP_LIMIT,
            uuid.uuid4().hex[:8],
            _opens_ms(concert_date_id),
            # A waiter admitted with no due poll on record (placed by hand: operators' tools, benchmarks)
            # keeps the place until the longest poll can have come, and then idles.
            (settings.QUEUE_ACTIVE_IDLE_SECONDS + poll_cap_seconds()) * 1000,
            "" if seen is None or seen.decided_at is None else str(seen.decided_at),
            "" if decision is None else decision.to_json(),
            settings.QUEUE_POLL_GRACE_SECONDS * 1000,
            *pace_args()[1:],
            *([] if next_state is None else next_state.as_fields()),
        ],
    )  # fmt: skip
    if auto:
        capacity = decision.target if decision is not None else active
    metrics.admission_run(
        concert_date_id=concert_date_id, admitted=admitted, active=active, waiting=waiting, target_active=capacity,
        passed_over=passed,
    )  # fmt: skip
    return AdmissionRun(
        concert_date_id=concert_date_id,
        admitted=admitted,
        pruned_waiters=pruned,
        expired_tokens=expired,
        idle_reclaimed=idled,
        active=active,
        waiting=waiting,
        prequeued=prequeued,
        drawn=drawn,
        passed_over=passed,
        parked=parked,
        capacity=capacity,
        decision=decision,
    )


def admit_all_dates() -> list[AdmissionRun]:
    """One admission run for every date that has had someone waiting or pre-queued (the beat task)."""
    redis = get_redis()
    dates_key = dates_with_waiters_key()
    runs = []
    for raw_id in redis.smembers(dates_key):
        date_id = int(raw_id)
        run = admit_next_batch(concert_date_id=date_id)
        runs.append(run)
        if run.waiting == 0 and run.active == 0 and run.prequeued == 0 and run.parked == 0:
            redis.srem(dates_key, raw_id)
            # An entrant may have joined between the script and the SREM (its own SADD came before
            # ours): look again, after the SREM, so the date is never dropped with someone waiting.
            keys = QueueKeys(date_id)
            if redis.zcard(keys.waiting) or redis.scard(keys.prequeue) or redis.zcard(keys.parked):
                redis.sadd(dates_key, raw_id)
    return runs


def reset_queue(*, concert_date_id: int) -> None:
    """Operators: empty the date's line and pre-queue, revoke every access token of it and forget
    the controller's state, and the draw (its secret too: a new pre-queue gets a new one)."""
    get_redis().delete(*QueueKeys(concert_date_id).all())
    lottery.forget_secret(concert_date_id)
