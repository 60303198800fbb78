"""Admission by rate (QUEUE_ADMISSION=auto): each admission run lets in about as many buyers as
left the booking path since the last run, times a margin, with the booking path's latency as a
brake on this very run.

The booking path (holds, payments) reports each request's latency and whether it was shed (a 503:
lock waits ran out, the database is saturated) through `booking_request_record`, one small script
per request into a per-second histogram in Redis. Places leave the booking path as buyers pay,
leave, go idle or let their token expire; the run sees them as the admitted count falling between
two runs (`departed`). Each run `decide()`s how many to admit now:

- healthy (p95 at most 80 % of QUEUE_TARGET_P95_MS, nothing shed): the departures (smoothed) times
  QUEUE_ADMIT_MARGIN, plus a growth step eased by the headroom left, so the booking path fills;
- in the band (80-100 % of the goal): the departures, no more: the admitted count stays where it is;
- over the goal: the departures times 0.9 · goal / p95 (at least half of them), so the admitted
  count starts coming down in this run; anything shed: nobody this run.

The growth step is a thirtieth of the admitted count (at least half of QUEUE_MIN_ACTIVE), not of
QUEUE_MAX_ACTIVE: how steeply the count climbs does not depend on how high an operator bounds it.

Admitting in proportion to departures is what TCP calls self-clocking: a booking path that slows
down pays fewer, lets fewer go, and is sent fewer. A concurrency target (the first controller)
reacts a journey late instead: a cut takes effect only as admitted buyers finish, so it overshoots
by a journey's worth of buyers and swings (docs/QUEUE.md). The admitted count stays within
QUEUE_MIN_ACTIVE (filled at once unless shedding) and QUEUE_MAX_ACTIVE, like Cloudflare's waiting
room's "new users per minute" within "total active users".

`decide()` is pure (the clock is an argument), so it is tested with a fake clock against a simulated
booking path with a queue in front of its database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from django.conf import settings

from apps.common import lua

from . import redis_scripts
from .keys import QueueKeys, now_ms

# Histogram bins grow by 10 %: p95 is read as the upper edge of its bin, so it errs high by < 10 %.
BIN_GROWTH = 1.1
SHED_FIELD = "shed"  # the histogram's field that counts shed requests (the others are bins)
# At most this far back is read (an admission run that was down does not judge stale traffic).
LOOKBACK_SECONDS = 60
# A second's histogram lives twice the lookback: every second a run reads is still there.
HISTOGRAM_TTL_SECONDS = 2 * LOOKBACK_SECONDS

# p95 needs this many requests before it can brake (sheds need only one).
MIN_SAMPLES = 10
# Grow only while p95 is at most this share of the goal: the band between it and the goal is where
# the admitted count rests.
HEADROOM = 0.8
# Over the goal, departures are replaced times this share of goal / p95 (aiming at the band's middle) ...
BRAKE_AIM = 0.9
# ... but never fewer than this share of them: the brake drains the booking path, it does not stop it.
DEEPEST_BRAKE = 0.5
# The departure rate is smoothed over runs with this weight on the newest run (noise of one interval
# is halved; a real change shows within two runs).
RATE_SMOOTHING = 0.5
# Rates are kept in Redis as integers: thousandths of a buyer per second.
MILLI = 1000
# A healthy run grows the admitted count by this share of it, or by half of QUEUE_MIN_ACTIVE while that
# is more (at the default bounds 25 a run up to 750, where a thirtieth of the bounds' range gave 21).
GROWTH_SHARE = 1 / 30


def latency_bin(ms: float) -> str:
    return f"b{max(0, int(math.log(max(ms, 1.0), BIN_GROWTH)))}"


def bin_upper_ms(field: str) -> float:
    return BIN_GROWTH ** (int(field[1:]) + 1)


@dataclass(frozen=True, kw_only=True)
class BookingLoad:
    """What the booking path showed since the last decision."""

    samples: int
    p95_ms: float | None
    shed: int

    @classmethod
    def from_histograms(cls, histograms: Iterable[Mapping[bytes | str, bytes | str]]) -> BookingLoad:
        counts: dict[str, int] = {}
        shed = 0
        for histogram in histograms:
            for raw_field, raw_count in histogram.items():
                field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
                if field == SHED_FIELD:
                    shed += int(raw_count)
                else:
                    counts[field] = counts.get(field, 0) + int(raw_count)
        samples = sum(counts.values())
        if not samples:
            return cls(samples=0, p95_ms=None, shed=shed)
        rank, seen = math.ceil(0.95 * samples), 0
        for field in sorted(counts, key=lambda f: int(f[1:])):
            seen += counts[field]
            if seen >= rank:
                return cls(samples=samples, p95_ms=round(bin_upper_ms(field), 1), shed=shed)
        raise AssertionError("unreachable: the bins sum to the samples")


@dataclass(frozen=True, kw_only=True)
class ControllerState:
    target: int  # the admitted count the last run aimed at (active then plus what it admitted)
    decided_at: int | None = None  # ms of the last decision
    active: int | None = None  # admitted buyers the last run saw before admitting
    drain_mps: int | None = None  # departures per second, smoothed, in thousandths

    FIELDS = ("target", "decided_at", "active", "drain_mps")

    @classmethod
    def from_redis(cls, raw: Mapping[bytes | str, bytes | str], *, initial_target: int) -> ControllerState:
        values = {}
        for key, value in raw.items():
            name, text = (key.decode(), value.decode()) if isinstance(key, bytes) else (key, value)
            if text != "" and name in cls.FIELDS:
                values[name] = int(text)
        return cls(**{"target": initial_target, **values})

    def as_fields(self) -> list[str | int]:
        """HSET field/value pairs ("" for None)."""
        fields: list[str | int] = []
        for name in self.FIELDS:
            value = getattr(self, name)
            fields += [name, "" if value is None else value]
        return fields


@dataclass(frozen=True, kw_only=True)
class Limits:
    min_active: int
    max_active: int
    target_p95_ms: float
    interval_ms: int
    margin: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            min_active=settings.QUEUE_MIN_ACTIVE,
            max_active=settings.QUEUE_MAX_ACTIVE,
            target_p95_ms=settings.QUEUE_TARGET_P95_MS,
            interval_ms=settings.QUEUE_ADMIT_INTERVAL_SECONDS * 1000,
            margin=settings.QUEUE_ADMIT_MARGIN,
        )

    def step(self, active: int) -> int:
        """Growth per healthy run beyond the departures: GROWTH_SHARE of the admitted count, at least half
        of QUEUE_MIN_ACTIVE. Not a share of QUEUE_MAX_ACTIVE: a buyer reaches the booking path seconds
        after admission, so what a climb overshoots the booking path's knee by is its step times those
        seconds, and an operator who raises the bound must not make the climb steeper."""
        return max(1, self.min_active // 2, math.ceil(GROWTH_SHARE * active))


@dataclass(frozen=True, kw_only=True)
class Decision:
    at: int
    before: int  # the admitted count the previous run aimed at
    target: int  # active + admit: the admitted count this run aims at
    action: str  # "grow", "hold" or "brake"
    reason: str
    p95_ms: float | None
    samples: int
    shed: int
    active: int
    waiting: int
    admit: int = 0  # how many this run admits (at most: the line may be shorter)
    departed: int = 0  # places freed since the last run
    drain_per_s: float = 0.0  # departures per second, smoothed

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Decision:
        known = {name: value for name, value in json.loads(raw).items() if name in cls.__dataclass_fields__}
        return cls(**known)


def _growth(load: BookingLoad, limits: Limits, active: int) -> int:
    """The growth step, scaled by the headroom left: a full step while p95 is at most half the band's
    floor, shrinking to one place as p95 nears it, so the admitted count eases into the band."""
    floor = HEADROOM * limits.target_p95_ms
    step = limits.step(active)
    if load.p95_ms is None:
        return step
    share = min(1.0, max(0.0, (floor - load.p95_ms) / (floor / 2)))
    return max(1, round(step * share))


def departed_since(*, state: ControllerState, admitted_since: int, active: int) -> int:
    """Places freed between the last run and this one: what the last run saw plus what it admitted,
    less what is admitted now. Buyers admitted straight at entry (nobody was waiting) count against
    it, which only errs low, and only while nobody waits."""
    if state.active is None:
        return 0
    return max(0, state.active + admitted_since - active)


def decide(
    *,
    state: ControllerState,
    load: BookingLoad,
    active: int,
    waiting: int,
    departed: int,
    now: int,
    limits: Limits,
) -> tuple[Decision, ControllerState] | None:
    """How many to admit in this run, and the controller's next state; None when another run decided
    less than half an interval ago. `departed`: places freed since the last decision."""
    if state.decided_at is not None and now - state.decided_at < limits.interval_ms // 2:
        return None
    elapsed_s = (now - state.decided_at if state.decided_at is not None else limits.interval_ms) / 1000
    rate = departed / max(elapsed_s, limits.interval_ms / 2000)
    drain = rate if state.drain_mps is None else (1 - RATE_SMOOTHING) * state.drain_mps / MILLI + RATE_SMOOTHING * rate
    per_run = drain * limits.interval_ms / 1000  # departures to expect before the next run
    goal = limits.target_p95_ms
    measured = load.p95_ms is not None and load.samples >= MIN_SAMPLES

    if load.shed:
        action, admit, reason = "brake", 0, f"{load.shed} booking request(s) shed: nobody this run"
    elif measured and load.p95_ms > goal:
        factor = max(DEEPEST_BRAKE, BRAKE_AIM * goal / load.p95_ms)
        action, admit = "brake", math.floor(per_run * factor)
        reason = f"p95 {load.p95_ms:.0f} ms over the {goal:.0f} ms goal: {factor:.2f} of the departures"
    elif measured and load.p95_ms > HEADROOM * goal:
        action, admit = "hold", round(per_run)
        reason = f"p95 {load.p95_ms:.0f} ms within the band below the goal: the departures"
    else:
        action, admit = "grow", math.ceil(per_run * limits.margin) + _growth(load, limits, active)
        reason = f"healthy: {limits.margin:g} x the departures and a step"
    if not load.shed and active + admit < limits.min_active:
        admit, reason = limits.min_active - active, f"{reason}; filled to the minimum"
    room = max(0, limits.max_active - active)
    if admit > room:
        admit, reason = room, f"{reason}; at the maximum"
    if waiting == 0:
        reason = f"{reason}; nobody waiting"
    decision = Decision(
        at=now, before=state.target, target=active + admit, action=action, reason=reason,
        p95_ms=load.p95_ms, samples=load.samples, shed=load.shed, active=active, waiting=waiting,
        admit=admit, departed=departed, drain_per_s=round(drain, 2),
    )  # fmt: skip
    next_state = ControllerState(target=active + admit, decided_at=now, active=active, drain_mps=round(drain * MILLI))
    return decision, next_state


def booking_request_record(
    *,
    concert_date_id: int,
    user_id: int,
    ms: float,
    shed: bool,
    keep_place_until_ms: int = 0,
    seats_held: int = 0,
    now: int | None = None,
) -> lua.Call:
    """A finished booking-path request (hold, payment) for the controller: its latency and whether it
    was shed; `keep_place_until_ms` (a hold was made) keeps the buyer's place until then, and no
    longer without a later request (lua/record.lua); `seats_held` (the hold's size) counts toward the
    mean seats a hold takes, which bounds admission near the end (lua/common.lua `seat_room`). One
    script, returned for its caller to run: the queue gate's `finish` sends it in the request's one
    round trip after commit."""
    keys = QueueKeys(concert_date_id)
    second = (now or now_ms()) // 1000
    return lua.Call(
        redis_scripts.RECORD,
        [keys.latency(second), keys.active, keys.idle, keys.control],
        [
            latency_bin(ms), 1 if shed else 0, HISTOGRAM_TTL_SECONDS, str(user_id), int(keep_place_until_ms),
            int(seats_held),
        ],
    )  # fmt: skip
