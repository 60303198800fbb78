"""Read-only views of the waiting rooms, for operators (commands, admin)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from apps.common.redis import get_redis
from apps.concerts.seat_counts import SeatCounts, ask_counts, counts_from_reply

from .controller import ControllerState, Decision
from .keys import QueueKeys, dates_with_waiters_key, datetime_from_ms, now_ms

DECISIONS_SHOWN = 5


@dataclass(frozen=True, kw_only=True)
class QueueSummary:
    concert_date_id: int
    mode: str  # QUEUE_ADMISSION: "auto" or "fixed"
    target: int  # how many may be admitted at once now (auto: the controller's target)
    active: int
    waiting: int
    prequeued: int  # waiting for the draw at the opening
    drawn_at: dt.datetime | None  # when the pre-queue was drawn
    drawn: int  # how many the draw placed
    admitted_per_minute: int  # admitted from the line in the last 60 s
    oldest_wait_seconds: int | None  # how long the head of the line has waited
    decisions: list[Decision]  # the controller's last decisions, newest first
    seats: SeatCounts | None = None  # the date's free and held seats (None: not counted right now)
    parked: int = 0  # passed over while late for their poll, let in or put back when they poll again


def queue_summary(*, concert_date_id: int) -> QueueSummary:
    keys = QueueKeys(concert_date_id)
    now = now_ms()
    redis = get_redis()
    pipe = redis.pipeline(transaction=False)
    pipe.zcard(keys.waiting)
    pipe.zcount(keys.active, now + 1, "+inf")
    pipe.scard(keys.prequeue)
    pipe.get(keys.drawn)
    pipe.hgetall(keys.control)
    pipe.lrange(keys.decisions, 0, DECISIONS_SHOWN - 1)
    pipe.zrange(keys.waiting, 0, 0)
    pipe.zrangebyscore(keys.admissions, now - 60_000, "+inf")
    ask_counts(pipe, concert_date_id=concert_date_id)
    pipe.zcard(keys.parked)
    waiting, active, prequeued, drawn, control, decisions, head, runs, seats, parked = pipe.execute()
    oldest = None
    if head:
        arrived = redis.hget(keys.arrived, head[0])
        oldest = max(0, (now - int(arrived)) // 1000) if arrived is not None else None
    # Each member is "<ms>:<admitted>:<run id>" (see lua/admit.lua).
    admitted = sum(int(run.split(":")[1]) for run in runs)
    drawn_ms, _, drawn_count = drawn.partition(":") if drawn else ("", "", "0")
    auto = settings.QUEUE_ADMISSION == "auto"
    return QueueSummary(
        concert_date_id=concert_date_id,
        mode=settings.QUEUE_ADMISSION,
        target=(
            ControllerState.from_redis(control, initial_target=settings.QUEUE_MIN_ACTIVE).target
            if auto
            else settings.QUEUE_MAX_ACTIVE
        ),
        active=active,
        waiting=waiting,
        prequeued=prequeued,
        drawn_at=datetime_from_ms(int(drawn_ms)) if drawn_ms else None,
        drawn=int(drawn_count),
        admitted_per_minute=admitted,
        oldest_wait_seconds=oldest,
        decisions=[Decision.from_json(raw) for raw in decisions],
        seats=counts_from_reply(seats),
        parked=parked,
    )


def dates_with_queues() -> list[int]:
    return sorted(int(date_id) for date_id in get_redis().smembers(dates_with_waiters_key()))


def describe(summary: QueueSummary) -> str:
    """One line for operators (admin, queue_status)."""
    s = summary
    oldest = "-" if s.oldest_wait_seconds is None else f"{s.oldest_wait_seconds} s"
    line = (
        f"{s.mode}: target {s.target} · {s.active} active · {s.waiting} waiting · "
        f"{s.admitted_per_minute}/min admitted · oldest wait {oldest}"
    )
    if s.prequeued:
        line += f" · {s.prequeued} pre-queued"
    if s.parked:
        line += f" · {s.parked} passed over (late for their poll)"
    if s.drawn_at is not None and s.drawn:  # a date with nobody pre-queued is drawn too, empty
        line += f" · {s.drawn} drawn at {s.drawn_at:%H:%M:%S}"
    if s.seats is not None:
        line += " · sold out" if s.seats.sold_out else f" · {s.seats.available} seats free, {s.seats.held} held"
    return line


def describe_decision(decision: Decision) -> str:
    d = decision
    p95 = "-" if d.p95_ms is None else f"{d.p95_ms:.0f} ms"
    return (
        f"{datetime_from_ms(d.at):%H:%M:%S} {d.action} +{d.admit} ({d.active}→{d.target}): {d.reason} "
        f"(p95 {p95} over {d.samples}, {d.shed} shed, {d.departed} left, {d.drain_per_s:g}/s drain, "
        f"{d.waiting} waiting)"
    )
