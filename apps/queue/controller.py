"""Capacity-based admission: how many buyers may be admitted at once (`target_active`), moved by
what the booking path shows (QUEUE_ADMISSION=auto).

The booking path (holds, payments) reports each request's latency and whether it was shed (a 503:
lock waits ran out, the database is saturated) through `record_booking_request`, one small script
per request into a per-second histogram in Redis. Every admission run reads the histograms since the
last decision and `decide()` moves the target, AIMD-style:

- overloaded (anything shed, or p95 over QUEUE_TARGET_P95_MS): cut multiplicatively, from the load
  that showed the overload (the admitted buyers at the time), by a factor sized to land the p95 back
  inside the healthy band (x 0.5 on sheds); then no further cut until that cut has taken effect
  (the admitted count has come down to the new target, and two intervals have passed);
- healthy with headroom (p95 at most 80 % of the goal), the target actually limiting (the line can
  fill every place) and buyers waiting: grow by a fixed step, so the whole range is crossed in ~30 runs;
- otherwise (p95 in the band 80-100 % of the goal, more places free than waiters, nobody waiting): hold.

docs/QUEUE.md explains why this does not oscillate under a step load. `decide()` is pure (the clock
is an argument), so it is tested with a fake clock against a simulated booking path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from django.conf import settings

from . import scripts
from .keys import QueueKeys, now_ms

# Histogram bins grow by 10 %: p95 is read as the upper edge of its bin, so it errs high by < 10 %.
BIN_GROWTH = 1.1
SHED_FIELD = "shed"
# The controller's shares and counts are tunables (apps/queue/tunables.py, QUEUE_CONTROLLER_*): how far
# back it reads, how many samples a cut needs, the band it rests in (from HEADROOM of the goal to the goal), where
# a cut aims and how deep it may go, what overload cuts at once, and how long a cut holds.


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
    target: int
    decided_at: int | None = None  # ms of the last decision
    cut_at: int | None = None  # ms of the last cut
    over_since: int | None = None  # ms since p95 has been over the goal (None: it is not)

    @classmethod
    def from_redis(cls, raw: Mapping[bytes | str, bytes | str], *, initial_target: int) -> ControllerState:
        values = {}
        for key, value in raw.items():
            name, text = (key.decode(), value.decode()) if isinstance(key, bytes) else (key, value)
            if text != "":
                values[name] = int(text)
        return cls(
            target=values.get("target", initial_target),
            decided_at=values.get("decided_at"),
            cut_at=values.get("cut_at"),
            over_since=values.get("over_since"),
        )

    def as_fields(self) -> list[str | int]:
        """HSET field/value pairs ("" for None)."""
        fields: list[str | int] = []
        for name in ("target", "decided_at", "cut_at", "over_since"):
            value = getattr(self, name)
            fields += [name, "" if value is None else value]
        return fields


@dataclass(frozen=True, kw_only=True)
class Limits:
    min_active: int
    max_active: int
    target_p95_ms: float
    interval_ms: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            min_active=settings.QUEUE_MIN_ACTIVE,
            max_active=settings.QUEUE_MAX_ACTIVE,
            target_p95_ms=settings.QUEUE_TARGET_P95_MS,
            interval_ms=settings.QUEUE_ADMIT_INTERVAL_SECONDS * 1000,
        )

    @property
    def step(self) -> int:
        """Additive increase per run: the whole range in about 30 healthy runs."""
        return max(1, math.ceil((self.max_active - self.min_active) / 30))


@dataclass(frozen=True, kw_only=True)
class Decision:
    at: int
    before: int
    target: int
    action: str  # "grow", "cut" or "hold"
    reason: str
    p95_ms: float | None
    samples: int
    shed: int
    active: int
    waiting: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Decision:
        return cls(**json.loads(raw))


def _growth(load: BookingLoad, limits: Limits) -> int:
    """The additive step, scaled by the headroom left: a full step while p95 is at most half the
    band's floor, shrinking to one place as p95 nears it, so the target eases into the band instead
    of jumping across it."""
    floor = settings.QUEUE_CONTROLLER_HEADROOM * limits.target_p95_ms
    if load.p95_ms is None:
        return limits.step
    share = min(1.0, max(0.0, (floor - load.p95_ms) / (floor / 2)))
    return max(1, round(limits.step * share))


def decide(
    *, state: ControllerState, load: BookingLoad, active: int, waiting: int, now: int, limits: Limits
) -> tuple[Decision, ControllerState] | None:
    """The decision and the controller's next state, or None when another run decided less than
    half an interval ago."""
    if state.decided_at is not None and now - state.decided_at < limits.interval_ms // 2:
        return None
    target = min(max(state.target, limits.min_active), limits.max_active)
    goal = limits.target_p95_ms
    over = load.p95_ms is not None and load.samples >= settings.QUEUE_CONTROLLER_MIN_SAMPLES and load.p95_ms > goal
    over_since = (state.over_since if state.over_since is not None else now) if over else None

    def decided(action: str, new_target: int, reason: str) -> tuple[Decision, ControllerState]:
        decision = Decision(
            at=now, before=state.target, target=new_target, action=action, reason=reason,
            p95_ms=load.p95_ms, samples=load.samples, shed=load.shed, active=active, waiting=waiting,
        )  # fmt: skip
        cut_at = now if action == "cut" else state.cut_at
        return decision, ControllerState(target=new_target, decided_at=now, cut_at=cut_at, over_since=over_since)

    factor = None
    if load.shed:
        factor, why = settings.QUEUE_CONTROLLER_DEEPEST_CUT, f"{load.shed} booking request(s) shed"
    elif over:
        why = f"p95 {load.p95_ms:.0f} ms over the {goal:.0f} ms goal"
        # One interval over the goal may be noise; two in a row, or far over, is overload.
        if load.p95_ms <= settings.QUEUE_CONTROLLER_CLEAR_OVERLOAD * goal and over_since == now:
            return decided("hold", target, f"{why}; waiting for the next interval to confirm")
        factor = min(
            settings.QUEUE_CONTROLLER_MILDEST_CUT,
            max(settings.QUEUE_CONTROLLER_DEEPEST_CUT, settings.QUEUE_CONTROLLER_CUT_AIM * goal / load.p95_ms),
        )
    if factor is not None:
        last_cut_pending = state.cut_at is not None and (
            active > target or now - state.cut_at < settings.QUEUE_CONTROLLER_CUT_HOLD_INTERVALS * limits.interval_ms
        )
        if last_cut_pending:
            return decided("hold", target, f"{why}; the last cut has not taken effect yet")
        cut = max(limits.min_active, math.floor(min(target, active) * factor))
        return decided("cut", cut, why) if cut < target else decided("hold", target, f"{why}; at the minimum")
    if waiting == 0:
        return decided("hold", target, "nobody waiting")
    if active + waiting < target:
        # The decision comes before this run admits: places freed since the last run (payments end an
        # access) are filled from the line now, so the target limits admission whenever the line can
        # fill it. It does not when the line is shorter than the places free.
        return decided("hold", target, "places free: the line cannot fill the target")
    if load.p95_ms is not None and load.p95_ms > settings.QUEUE_CONTROLLER_HEADROOM * goal:
        return decided("hold", target, f"p95 {load.p95_ms:.0f} ms within the band below the goal")
    if target >= limits.max_active:
        return decided("hold", target, "at the maximum")
    return decided("grow", min(limits.max_active, target + _growth(load, limits)), "healthy and every place taken")


def record_booking_request(
    *,
    concert_date_id: int,
    user_id: int,
    ms: float,
    shed: bool,
    keep_place_until_ms: int = 0,
    now: int | None = None,
) -> None:
    """Report a finished booking-path request (hold, payment) to the controller: its latency and
    whether it was shed; `keep_place_until_ms` (a hold was made) keeps the buyer's place until then.
    One round trip."""
    keys = QueueKeys(concert_date_id)
    second = (now or now_ms()) // 1000
    scripts.run(
        scripts.RECORD,
        [keys.latency(second), keys.active, keys.idle],
        [
            latency_bin(ms),
            1 if shed else 0,
            settings.QUEUE_LATENCY_HISTOGRAM_TTL_SECONDS,
            str(user_id),
            int(keep_place_until_ms),
        ],
    )
