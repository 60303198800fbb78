"""The transactional outbox: effects that a committed change owes the world outside the database.

A service that changes bookings calls `emit(kind, **payload)` inside its transaction; the row
commits or rolls back with the change. The relay (`relay`, run by Celery beat every
OUTBOX_RELAY_INTERVAL_SECONDS on the `booking` queue, and nudged after commit for latency) claims due
events with `SELECT … FOR UPDATE SKIP LOCKED`, leases them for OUTBOX_LEASE_SECONDS, performs each
effect outside any transaction, and marks it DONE; a failure is retried with exponential backoff and
parked as FAILED with its last error after OUTBOX_MAX_ATTEMPTS. A relay killed mid-batch leaves its
unfinished events leased: they come back when the lease ends. So every effect runs at least once,
and every effect is idempotent (e-mails are recorded by event in `SentEmail`), hence once.

The apps register the effects they own with `@effect("app.what")` in their `effects.py`; this
module never imports them, so `common` stays at the bottom of the dependency order.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .mail import outbox_mail_key
from .models import OutboxEvent, OutboxStatus, SentEmail
from .redis import get_redis, redis_key
from .tasks import relay_outbox_task

logger = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Effect:
    kind: str
    run: Handler
    # Events of this kind with equal payloads are one effect: a batch runs it once for all of them
    # (a thousand holds on one date drop its seat map once).
    coalesce: bool = False


_effects: dict[str, Effect] = {}


def effect(kind: str, *, coalesce: bool = False) -> Callable[[Handler], Handler]:
    """Register the function that performs events of `kind`. It must be idempotent."""

    def register(run: Handler) -> Handler:
        if kind in _effects and _effects[kind].run is not run:
            raise ValueError(f"outbox effect {kind!r} is registered twice")
        _effects[kind] = Effect(kind=kind, run=run, coalesce=coalesce)
        return run

    return register


def emit(kind: str, *, nudge: bool = False, **payload: object) -> None:
    """Record that the current transaction owes `kind(payload)`. With `nudge`, ask the relay to run
    right after commit (best effort: beat runs it within a second anyway)."""
    if kind not in _effects:
        raise ValueError(f"no outbox effect is registered for {kind!r}")
    OutboxEvent.objects.create(kind=kind, payload=payload, available_at=timezone.now())
    if nudge:
        transaction.on_commit(nudge_relay, robust=True)


# After a failed nudge this process stops nudging for a while: with the broker down, each attempt
# costs its connection timeouts, and a request that committed should not pay them again and again.
NUDGE_PAUSE_AFTER_FAILURE_SECONDS = 10.0
_nudges_paused_until = 0.0


def nudge_relay() -> None:
    """Queue one relay run now, at most once per OUTBOX_NUDGE_DEBOUNCE_MS across all processes, so a
    rush of payments adds a handful of relay runs, not one per payment. Never raises: the event is
    committed and beat's relay picks it up whatever happens here."""
    global _nudges_paused_until
    if time.monotonic() < _nudges_paused_until:
        return
    try:
        debounce = settings.OUTBOX_NUDGE_DEBOUNCE_MS
        if debounce and not get_redis().set(redis_key("outbox", "nudge"), 1, nx=True, px=debounce):
            return
        relay_outbox_task.apply_async(expires=settings.OUTBOX_RELAY_INTERVAL_SECONDS * 5)
    except Exception:
        _nudges_paused_until = time.monotonic() + NUDGE_PAUSE_AFTER_FAILURE_SECONDS
        logger.warning("could not nudge the outbox relay; beat will run it", exc_info=True)


# --- The relay ---------------------------------------------------------------------------------------


@dataclass
class RelayRun:
    done: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.done + self.retried + self.failed


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: base · 2^(attempts-1), capped, with ±25 % jitter so
    events that failed together do not all come back in the same second."""
    seconds = min(settings.OUTBOX_BACKOFF_MAX_SECONDS, settings.OUTBOX_BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.75, 1.25))


def _claim(batch_size: int, now: datetime) -> list[OutboxEvent]:
    """Take up to `batch_size` due events for this relay: rows another relay is claiming are skipped,
    and the claimed ones are leased (not due again until the lease ends) before the lock is let go."""
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, available_at__lte=now)
            .order_by("pk")[:batch_size]
        )
        if events:
            OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(
                attempts=F("attempts") + 1,
                available_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
                updated_at=now,
            )
    for event in events:
        event.attempts += 1
    return events


def _groups(events: Iterable[OutboxEvent]) -> list[list[OutboxEvent]]:
    groups: dict[tuple, list[OutboxEvent]] = {}
    for event in events:
        registered = _effects.get(event.kind)
        key = (event.kind, repr(sorted(event.payload.items()))) if registered and registered.coalesce else event.pk
        groups.setdefault(key, []).append(event)
    return list(groups.values())


def _mark_done(events: Sequence[OutboxEvent]) -> None:
    now = timezone.now()
    OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(
        status=OutboxStatus.DONE, done_at=now, last_error="", updated_at=now
    )


def _mark_failed(event: OutboxEvent, error: str, now: datetime) -> bool:
    """Schedule the next attempt, or park the event as FAILED; True if parked."""
    parked = event.attempts >= settings.OUTBOX_MAX_ATTEMPTS
    OutboxEvent.objects.filter(pk=event.pk).update(
        status=OutboxStatus.FAILED if parked else OutboxStatus.PENDING,
        available_at=now if parked else now + backoff(event.attempts),
        last_error=error[:4000],
        updated_at=now,
    )
    return parked


def _put_back(events: Sequence[OutboxEvent], now: datetime) -> None:
    """Give back claimed events that were not tried: their attempt does not count."""
    OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(
        attempts=F("attempts") - 1, available_at=now, updated_at=now
    )


def _run_batch(events: list[OutboxEvent], result: RelayRun) -> None:
    failing_kinds: set[str] = set()
    for group in _groups(events):
        first = group[0]
        now = timezone.now()
        if first.kind in failing_kinds:
            # Its dependency (the broker, Redis) just failed for this kind: do not hammer it with the
            # rest of the batch; they wait for the next run, their attempt not counted.
            _put_back(group, now)
            continue
        registered = _effects.get(first.kind)
        try:
            if registered is None:
                raise LookupError(f"no outbox effect is registered for {first.kind!r}")
            registered.run(first)
        except Exception as exc:
            if isinstance(exc, SoftTimeLimitExceeded):
                raise  # out of time: the rest of the batch comes back when its lease ends
            failing_kinds.add(first.kind)
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("outbox event %s (%s) failed on attempt %d: %s", first.pk, first.kind, first.attempts, error)
            for event in group:
                if _mark_failed(event, error, now):
                    result.failed += 1
                    logger.error("outbox event %s (%s) parked as FAILED: %s", event.pk, event.kind, error)
                else:
                    result.retried += 1
        else:
            _mark_done(group)
            result.done += len(group)


def relay(*, batch_size: int | None = None, max_batches: int | None = None, now: datetime | None = None) -> RelayRun:
    """Perform due outbox events, batch after batch, until none is due or `max_batches` ran.
    Safe to run in several workers at once: a claimed event belongs to one relay."""
    batch_size = batch_size or settings.OUTBOX_BATCH
    max_batches = max_batches or settings.OUTBOX_MAX_BATCHES_PER_RUN
    result = RelayRun()
    for _ in range(max_batches):
        events = _claim(batch_size, now or timezone.now())
        if events:
            _run_batch(events, result)
        if len(events) < batch_size:
            break
    return result


def retry(*, event_ids: Sequence[int] | None = None, kind: str | None = None, include_done: bool = False) -> int:
    """Make events due again with a fresh attempt count: by default every FAILED one (of `kind`);
    with `event_ids`, those events. DONE events are replayed only with `include_done` (their effects
    are idempotent, so a replay re-checks rather than repeats). Returns how many."""
    statuses = [OutboxStatus.FAILED, OutboxStatus.PENDING]
    if include_done:
        statuses.append(OutboxStatus.DONE)
    query = OutboxEvent.objects.filter(status__in=statuses if event_ids else [OutboxStatus.FAILED])
    if event_ids:
        query = query.filter(pk__in=event_ids)
    if kind:
        query = query.filter(kind=kind)
    now = timezone.now()
    return query.update(status=OutboxStatus.PENDING, attempts=0, available_at=now, done_at=None, updated_at=now)


def purge_done(*, older_than: timedelta, batch_size: int = 1000) -> int:
    """Delete DONE events finished more than `older_than` ago, with the records of the e-mails they
    sent, in short batches (each its own small transaction). Returns how many events. FAILED and
    PENDING events stay until they are done. A DONE event's `available_at` is its last claim plus the
    lease, close to when it was done, and the `(status, available_at)` index finds them."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            OutboxEvent.objects.filter(status=OutboxStatus.DONE, available_at__lt=cutoff)
            .order_by("status", "available_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            SentEmail.objects.filter(key__in=[outbox_mail_key(pk) for pk in ids]).delete()
            deleted += OutboxEvent.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            return deleted
