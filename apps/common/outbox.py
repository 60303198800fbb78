"""Effects: what a committed change owes the world outside the database, on one path.

A service calls `emit(kind, **payload)` inside its transaction. That writes an outbox row, which
commits or rolls back with the change, and asks for what the effect does at commit (`Effect.at_commit`)
to run right after commit in this process (the fast path: the seat map is fresh and the buyer's
access ended by the time the response leaves). The fast path is best effort: a failure is logged,
never raised into a request that has committed, and after one this process skips that kind's fast
path for FAST_PATH_PAUSE_AFTER_FAILURE_SECONDS so that requests do not each pay a dead dependency's
timeouts. A whole effect it ran is noted in Redis (`fast_done_key`).

The relay (`relay`, run by Celery beat every OUTBOX_RELAY_INTERVAL_SECONDS on the `booking` queue)
guarantees the effect: it claims due events with `SELECT … FOR UPDATE SKIP LOCKED`, leases them for
OUTBOX_LEASE_SECONDS, marks those the fast path noted DONE without running them again, performs the
others outside any transaction and marks them DONE, the batch's in one statement. An effect registered
with `many` is performed for all of its kind's events in a batch at once (a payment's confirmation: one
Redis round trip, one transaction and one e-mail task for the batch); a failure is retried with exponential backoff
and parked as FAILED with its last error after OUTBOX_MAX_ATTEMPTS. A relay killed mid-batch leaves
its unfinished events leased: they come back when the lease ends. So every effect runs at least
once, and every effect is idempotent (e-mails are recorded by event in `SentEmail`, access ends only
if it is the one the event names), hence once.

What the fast path costs a request: no database statement; after commit, the effect's own work and
one Redis SET per whole effect (the note). The transaction does not wait for them, the response does.
An effect whose work is one Lua script returns its call (`apps.common.lua.Call`) instead of running
it: the fast path hands it to `lua.run_soon` with its note, so that in a booking request (a gated
view's `lua.one_round_trip()`) the script and the note travel in the request's one pipeline after
commit, with the seat counts and the admission controller's record; a note set behind a script whose
reply is an error is removed again. Elsewhere (Celery, commands, services called directly) the
script runs at commit and the note follows, as for any other effect.

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
from functools import cached_property

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import lua
from .db import StatementResult, as_loaded, insert_statement, inserted_ids
from .mail import outbox_mail_key
from .models import OutboxEvent, OutboxStatus, SentEmail
from .redis import get_redis, redis_key

logger = logging.getLogger(__name__)

# What performs an event: it does the work, or returns the one script call that is its work
# (`lua.Call`) for the outbox to run, so the fast path can send it in the request's round trip.
Handler = Callable[[OutboxEvent], lua.Call | None]
# What performs several events of one kind at once, in the relay (each event's effect, all of them).
ManyHandler = Callable[[Sequence[OutboxEvent]], None]


@dataclass(frozen=True)
class Effect:
    kind: str
    run: Handler
    # Events of this kind with equal payloads are one effect: a batch runs it once for all of them
    # (a thousand holds on one date drop its seat map once).
    coalesce: bool = False
    # What runs right after commit: the whole effect (None; the relay then only checks that it ran),
    # or the part of it that cannot wait (the relay still runs the whole: a payment ends its access at
    # commit and the relay queues the e-mail, so the booking request does not wait for the broker and
    # a broker outage cannot hold up the end of the access).
    at_commit: Handler | None = None
    # The relay's way to perform every due event of this kind in a batch at once (one round trip, one
    # transaction, one task where `run` would pay one each: a sale's thousands of payments); all of
    # them succeed or all are tried again. None: one `run` per event.
    many: ManyHandler | None = None


_effects: dict[str, Effect] = {}


def effect(
    kind: str, *, coalesce: bool = False, at_commit: Handler | None = None, many: ManyHandler | None = None
) -> Callable[[Handler], Handler]:
    """Register the function that performs events of `kind`. It, `at_commit` and `many` must be
    idempotent, and `many(events)` must do what `run` does for each of them."""
    if coalesce and many:
        raise ValueError("an effect is coalesced or performed many at once, not both")

    def register(run: Handler) -> Handler:
        if kind in _effects and _effects[kind].run is not run:
            raise ValueError(f"outbox effect {kind!r} is registered twice")
        _effects[kind] = Effect(kind=kind, run=run, coalesce=coalesce, at_commit=at_commit, many=many)
        return run

    return register


def emit(kind: str, **payload: object) -> None:
    """Record that the current transaction owes `kind(payload)`: what the effect does at commit runs
    right after it (best effort) and the relay makes sure the whole effect ran. Outside a transaction
    (autocommit) "after commit" is at once."""
    if kind not in _effects:
        raise ValueError(f"no outbox effect is registered for {kind!r}")
    event = OutboxEvent.objects.create(kind=kind, payload=payload, available_at=timezone.now())
    transaction.on_commit(_FastPath(event), robust=True)


class Emission:
    """`emit` for a caller that sends the outbox row in a batch of its own statements (one round
    trip, `apps.common.db.run_batch`): put `statement` in the batch, then call `inserted` with its
    result, in the same transaction."""

    def __init__(self, kind: str, **payload: object) -> None:
        if kind not in _effects:
            raise ValueError(f"no outbox effect is registered for {kind!r}")
        self.event = OutboxEvent(kind=kind, payload=payload, available_at=timezone.now())
        self.statement = insert_statement(OutboxEvent, [self.event])

    def inserted(self, result: StatementResult) -> None:
        (self.event.pk,) = inserted_ids(result, 1)
        transaction.on_commit(_FastPath(self.event), robust=True)


class ServerEmission:
    """`emit` for a caller whose outbox row the database server inserts itself (a stored procedure):
    insert `kind` and `payload_text` (the payload as the model's JSON column stores it), then call
    `inserted` with the row's id and `available_at`, in the same transaction or, when the server
    committed it already, after (the effect's commit step then runs at once)."""

    def __init__(self, kind: str, **payload: object) -> None:
        if kind not in _effects:
            raise ValueError(f"no outbox effect is registered for {kind!r}")
        self.kind, self.payload = kind, payload

    @cached_property
    def payload_text(self) -> str:
        """Made when a caller sends it (one whose server builds the payload itself never pays for it)."""
        return _PAYLOAD.get_db_prep_value(self.payload, transaction.get_connection())

    def inserted(self, event_id: int, available_at: datetime) -> None:
        event = as_loaded(OutboxEvent(pk=event_id, kind=self.kind, payload=self.payload, available_at=available_at))
        transaction.on_commit(_FastPath(event), robust=True)


_PAYLOAD = OutboxEvent._meta.get_field("payload")


# --- The fast path -----------------------------------------------------------------------------------

FAST_PATH_PAUSE_AFTER_FAILURE_SECONDS = 10.0
_paused_until: dict[str, float] = {}  # kind → monotonic time its fast path resumes in this process


def fast_done_key(event_id: int) -> str:
    """The note that the fast path ran this event's effect. It expires after
    OUTBOX_FAST_PATH_NOTE_SECONDS: a note the relay never reads (it ran the event first) goes by itself,
    and a note that expires before the relay reads it only costs a second, idempotent run."""
    return redis_key("outbox", "fast-done", str(event_id))


class _FastPath:
    """The after-commit callback of one event: run what its effect does at commit, and note that the
    whole effect ran when that was all of it."""

    def __init__(self, event: OutboxEvent) -> None:
        self.event = event

    def __call__(self) -> None:
        event = self.event
        if time.monotonic() < _paused_until.get(event.kind, 0.0):
            return
        registered = _effects[event.kind]
        whole = registered.at_commit is None
        try:
            call = (registered.at_commit or registered.run)(event)
        except Exception as exc:
            self.failed(exc)
            return
        if call is not None:
            note = (fast_done_key(event.pk), settings.OUTBOX_FAST_PATH_NOTE_SECONDS) if whole else None
            lua.run_soon(call, failed=self.failed, note=note)
            return
        if not whole:
            return
        try:
            get_redis().set(fast_done_key(event.pk), 1, ex=settings.OUTBOX_FAST_PATH_NOTE_SECONDS)
        except Exception:
            logger.warning("could not note effect %s as run; the relay runs it again", event.pk, exc_info=True)

    def failed(self, exc: Exception) -> None:
        """The effect failed after commit: the relay runs it, and this process skips the kind's fast
        path for a while."""
        event = self.event
        _paused_until[event.kind] = time.monotonic() + FAST_PATH_PAUSE_AFTER_FAILURE_SECONDS
        logger.warning("effect %s (%s) failed after commit; the relay runs it", event.pk, event.kind, exc_info=exc)


def _perform(registered: Effect, group: Sequence[OutboxEvent]) -> None:
    if registered.many is not None:
        registered.many(group)
        return
    call = registered.run(group[0])
    if call is not None:
        call.run()


def _taken_by_fast_path(events: Sequence[OutboxEvent]) -> set[int]:
    """The ids among `events` that the fast path ran, removed from its note. Redis down: none."""
    if not events:
        return set()
    try:
        pipe = get_redis().pipeline(transaction=False)
        for event in events:
            pipe.delete(fast_done_key(event.pk))
        return {event.pk for event, removed in zip(events, pipe.execute(), strict=True) if removed}
    except Exception:
        logger.warning("could not read which effects ran after commit; running them all", exc_info=True)
        return set()


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
        key: object = event.pk
        if registered and registered.coalesce:
            key = (event.kind, repr(sorted(event.payload.items())))
        elif registered and registered.many:
            key = event.kind
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
    ran = _taken_by_fast_path(events)
    # Events done are marked in one UPDATE at the end of the batch. A relay that dies before it leaves
    # them leased; they come back when the lease ends and, being idempotent, run again harmlessly.
    done: list[OutboxEvent] = [event for event in events if event.pk in ran]
    try:
        _run_groups(events, ran, result, done)
    finally:
        if done:
            _mark_done(done)
            result.done += len(done)


def _run_groups(events: list[OutboxEvent], ran: set[int], result: RelayRun, done: list[OutboxEvent]) -> None:
    failing_kinds: set[str] = set()
    for group in _groups(event for event in events if event.pk not in ran):
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
            _perform(registered, group)
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
            done.extend(group)


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
