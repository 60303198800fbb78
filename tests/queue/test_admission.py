"""Capacity-based admission (the AIMD controller), idle reclaim and the booking path's reports."""

import math
import time

import pytest

from apps.common.redis import get_redis
from apps.queue import services
from apps.queue.controller import (
    BIN_GROWTH,
    BookingLoad,
    ControllerState,
    Limits,
    bin_upper_ms,
    decide,
    latency_bin,
    record_booking_request,
)
from apps.queue.keys import QueueKeys
from apps.queue.models import QueueStatus
from apps.queue.selectors import queue_summary
from tests.factories import seat_ids
from tests.helpers import access_token_valid, login_client, run_in_threads
from tests.queue.helpers import enter, fill_capacity, status

pytestmark = pytest.mark.django_db

LIMITS = Limits(min_active=50, max_active=660, target_p95_ms=300, interval_ms=2000)
GOAL = LIMITS.target_p95_ms


def healthy(p95=100.0, samples=200):
    return BookingLoad(samples=samples, p95_ms=p95, shed=0)


class TestDecide:
    def test_grows_by_a_step_while_healthy_and_every_place_is_taken(self):
        state = ControllerState(target=100)
        decision, after = decide(state=state, load=healthy(), active=100, waiting=500, now=10_000, limits=LIMITS)
        assert (decision.action, decision.target) == ("grow", 100 + LIMITS.step)
        assert (after.target, after.decided_at) == (100 + LIMITS.step, 10_000)

    def test_places_freed_since_the_last_run_count_as_taken_while_the_line_can_fill_them(self):
        """The run decides before it admits: buyers who paid since the last run left places the run
        is about to fill from the line. Calling them free would hold the target at its minimum for as
        long as anyone pays within an interval."""
        state = ControllerState(target=100)
        decision, _ = decide(state=state, load=healthy(), active=93, waiting=500, now=10_000, limits=LIMITS)
        assert (decision.action, decision.target) == ("grow", 100 + LIMITS.step)

    def test_the_step_shrinks_as_p95_nears_the_band(self):
        state = ControllerState(target=100)
        steps = []
        for p95 in (50, 150, 200, 230):
            decision, _ = decide(state=state, load=healthy(p95), active=100, waiting=9, now=10_000, limits=LIMITS)
            steps.append(decision.target - 100)
        assert steps[0] == LIMITS.step and steps == sorted(steps, reverse=True) and steps[-1] >= 1

    @pytest.mark.parametrize(
        ("load", "active", "waiting", "why"),
        [
            (healthy(), 60, 30, "places free"),
            (healthy(), 100, 0, "nobody waiting"),
            (healthy(p95=0.9 * GOAL), 100, 500, "within the band"),
        ],
    )
    def test_holds_when_growing_would_not_help_or_would_risk_the_goal(self, load, active, waiting, why):
        state = ControllerState(target=100)
        decision, _ = decide(state=state, load=load, active=active, waiting=waiting, now=10_000, limits=LIMITS)
        assert (decision.action, decision.target) == ("hold", 100)
        assert why in decision.reason

    def test_a_shed_halves_the_target_at_once(self):
        load = BookingLoad(samples=40, p95_ms=120, shed=1)
        decision, after = decide(
            state=ControllerState(target=400), load=load, active=400, waiting=9, now=10_000, limits=LIMITS
        )
        assert (decision.action, decision.target, after.cut_at) == ("cut", 200, 10_000)

    def test_p95_over_the_goal_must_last_two_intervals_unless_far_over(self):
        state = ControllerState(target=400)
        slow = healthy(p95=GOAL * 1.2)
        first, state = decide(state=state, load=slow, active=400, waiting=9, now=10_000, limits=LIMITS)
        assert (first.action, state.over_since) == ("hold", 10_000)
        second, state = decide(state=state, load=slow, active=400, waiting=9, now=12_000, limits=LIMITS)
        # Cut to land p95 inside the band: 400 x 0.9 x 300 / 360 = 300.
        assert (second.action, second.target) == ("cut", 300)
        very_slow = healthy(p95=GOAL * 2)
        at_once, _ = decide(
            state=ControllerState(target=400), load=very_slow, active=400, waiting=9, now=10_000, limits=LIMITS
        )
        assert (at_once.action, at_once.target) == ("cut", 200)

    def test_no_second_cut_until_the_first_has_taken_effect(self):
        shed = BookingLoad(samples=40, p95_ms=900, shed=3)
        state = ControllerState(target=200, decided_at=10_000, cut_at=10_000)
        # The admitted buyers have not come down to the new target yet: cutting again would overshoot.
        decision, state = decide(state=state, load=shed, active=380, waiting=9, now=12_000, limits=LIMITS)
        assert (decision.action, decision.target) == ("hold", 200)
        assert "not taken effect" in decision.reason
        decision, _ = decide(state=state, load=shed, active=200, waiting=9, now=16_000, limits=LIMITS)
        assert (decision.action, decision.target) == ("cut", 100)

    def test_bounded_by_min_and_max(self):
        shed = BookingLoad(samples=40, p95_ms=900, shed=3)
        low, _ = decide(state=ControllerState(target=60), load=shed, active=60, waiting=9, now=1, limits=LIMITS)
        assert low.target == LIMITS.min_active
        high, _ = decide(state=ControllerState(target=655), load=healthy(), active=655, waiting=9, now=1, limits=LIMITS)
        assert high.target == LIMITS.max_active

    def test_decides_at_most_once_per_half_interval(self):
        state = ControllerState(target=100, decided_at=10_000)
        assert decide(state=state, load=healthy(), active=100, waiting=9, now=10_900, limits=LIMITS) is None
        assert decide(state=state, load=healthy(), active=100, waiting=9, now=11_000, limits=LIMITS) is not None


class SimulatedBookingPath:
    """A booking path whose p95 rises steeply as the admitted buyers approach what the database can
    serve (an M/M/1-like curve), and sheds beyond it. Every admitted buyer stays ~60 s."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def load(self, active: float) -> BookingLoad:
        if active >= self.capacity:
            return BookingLoad(samples=int(active), p95_ms=5000, shed=5)
        return BookingLoad(samples=int(active), p95_ms=40 / (1 - active / self.capacity), shed=0)


def run_controller(path: SimulatedBookingPath, *, intervals: int, capacity_step_at: int | None = None, to=None):
    """Admission runs every 2 s of a fake clock: 100,000 buyers arrive at once at run 5 (a step load)."""
    state, active, waiting, history = ControllerState(target=LIMITS.min_active), 0.0, 0, []
    for i in range(intervals):
        if i == 5:
            waiting = 100_000
        if i == capacity_step_at:
            path.capacity = to
        active -= active / 30  # buyers finishing (paying) since the last run
        load = path.load(active)
        # As in admit_next_batch: decide on the counts before this run admits, then admit up to the target.
        decision, state = decide(
            state=state, load=load, active=int(active), waiting=waiting, now=i * 2000, limits=LIMITS
        )
        admitted = max(0, min(waiting, state.target - int(active)))
        active, waiting = active + admitted, waiting - admitted
        history.append((decision, load))
    return history


class TestStability:
    def test_a_step_load_settles_without_oscillation(self):
        history = run_controller(SimulatedBookingPath(capacity=400), intervals=300)
        actions = [decision.action for decision, _ in history]
        assert "cut" not in actions  # it eased into the band instead of overshooting the goal
        targets = [decision.target for decision, _ in history]
        assert targets == sorted(targets)  # never went back down: no oscillation
        settled = history[100:]
        assert len({decision.target for decision, _ in settled}) == 1
        assert all(0.8 * GOAL <= load.p95_ms <= GOAL for _, load in settled)

    def test_when_capacity_drops_one_cut_then_it_settles_again(self):
        history = run_controller(SimulatedBookingPath(capacity=400), intervals=400, capacity_step_at=200, to=250)
        cuts = [i for i, (decision, _) in enumerate(history) if decision.action == "cut"]
        assert len(cuts) == 1 and cuts[0] >= 200
        settled = history[300:]
        assert len({decision.target for decision, _ in settled}) == 1
        assert all(load.p95_ms <= GOAL and not load.shed for _, load in settled)

    def test_with_ample_capacity_it_climbs_to_the_maximum_in_about_30_runs(self):
        history = run_controller(SimulatedBookingPath(capacity=5000), intervals=60)
        reached = next(i for i, (decision, _) in enumerate(history) if decision.target == LIMITS.max_active)
        assert reached <= 5 + 35


class TestAutoAdmission:
    def test_admits_target_minus_active_and_grows_with_a_healthy_booking_path(self, date, settings, clock):
        fill_capacity(date, settings, active=10)  # target starts at QUEUE_MIN_ACTIVE = 10
        settings.QUEUE_MAX_ACTIVE = 100
        for uid in range(1, 201):
            enter(uid, date)
        for _ in range(30):
            record_booking_request(concert_date_id=date.pk, user_id=1, ms=40, shed=False, now=clock.ms)
        clock.advance(2)
        run = services.admit_next_batch(concert_date_id=date.pk)
        step = math.ceil((100 - 10) / 30)
        assert (run.decision.action, run.capacity, run.admitted) == ("grow", 10 + step, step)
        assert (run.decision.samples, run.decision.p95_ms) == (30, pytest.approx(40 * 1.1, rel=0.1))
        assert [status(uid, date).status for uid in (1, step, step + 1)] == [
            QueueStatus.READY, QueueStatus.READY, QueueStatus.WAITING,
        ]  # fmt: skip
        # A run moments later (another beat replica) does not decide again.
        clock.advance(0.5)
        again = services.admit_next_batch(concert_date_id=date.pk)
        assert (again.decision, again.capacity, again.admitted) == (None, 10 + step, 0)

    def test_sheds_cut_the_target(self, date, settings, clock):
        fill_capacity(date, settings, active=40)
        settings.QUEUE_MIN_ACTIVE = 10
        get_redis().hset(QueueKeys(date.pk).control, "target", 40)
        enter(1, date)
        record_booking_request(concert_date_id=date.pk, user_id=1, ms=2500, shed=True, now=clock.ms)
        clock.advance(2)
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.decision.action, run.capacity, run.admitted) == ("cut", 20, 0)
        summary = queue_summary(concert_date_id=date.pk)
        assert (summary.target, summary.decisions[0].action, summary.decisions[0].shed) == (20, "cut", 1)

    @pytest.mark.django_db(transaction=True)
    def test_racing_runs_apply_one_decision(self, settings, clock):
        from tests.factories import make_date

        date = make_date()
        fill_capacity(date, settings, active=10)
        settings.QUEUE_MAX_ACTIVE = 1000
        for uid in range(1, 101):
            enter(uid, date)
        clock.advance(2)
        runs = run_in_threads(8, lambda i: services.admit_next_batch(concert_date_id=date.pk))
        step = math.ceil((1000 - 10) / 30)
        assert get_redis().llen(QueueKeys(date.pk).decisions) == 1
        assert queue_summary(concert_date_id=date.pk).target == 10 + step
        assert sum(run.admitted for run in runs) == step
        assert get_redis().zcard(QueueKeys(date.pk).active) == 10 + step


class TestIdleReclaim:
    def test_an_idle_admitted_buyer_loses_the_place(self, date, settings, clock):
        settings.QUEUE_ACTIVE_IDLE_SECONDS = 120
        idle = services.issue_access_token(user_id=1, concert_date_id=date.pk)
        busy = services.issue_access_token(user_id=2, concert_date_id=date.pk)
        clock.advance(100)
        assert access_token_valid(token=busy.token, user_id=2, concert_date_id=date.pk)  # activity
        clock.advance(30)  # 130 s after admission, 30 s after 2's last request
        assert not access_token_valid(token=idle.token, user_id=1, concert_date_id=date.pk)
        assert access_token_valid(token=busy.token, user_id=2, concert_date_id=date.pk)
        assert get_redis().zscore(QueueKeys(date.pk).active, "1") is None  # the place is free at once
        assert status(1, date).status == QueueStatus.NOT_IN_QUEUE

    def test_the_admission_run_reclaims_idle_places_nobody_asks_about(self, date, settings, clock, fixed_admission):
        settings.QUEUE_ACTIVE_IDLE_SECONDS, settings.QUEUE_MAX_ACTIVE = 120, 1
        enter(1, date)
        enter(2, date)
        clock.advance(121)
        status(2, date)  # the waiter's heartbeat
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.idle_reclaimed, run.admitted) == (1, 1)
        assert status(2, date).status == QueueStatus.READY

    def test_a_buyer_admitted_between_polls_keeps_the_place_until_the_next_poll(
        self, date, settings, clock, fixed_admission
    ):
        """Admitted by the run while told to come back in up to a third of the heartbeat timeout: the
        place idles only from when that poll can have come."""
        settings.QUEUE_ACTIVE_IDLE_SECONDS, settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS = 120, 540
        settings.QUEUE_MAX_ACTIVE = 1
        enter(1, date)
        enter(2, date)  # waits behind 1
        services.end_access(user_id=1, concert_date_id=date.pk)
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 1
        clock.advance(120 + 180 - 5)  # idle for longer than 120 s, but not since its poll could come
        assert services.admit_next_batch(concert_date_id=date.pk).idle_reclaimed == 0
        assert status(2, date).status == QueueStatus.READY
        clock.advance(10)
        assert services.admit_next_batch(concert_date_id=date.pk).idle_reclaimed == 1

    def test_a_live_hold_keeps_the_place_until_it_expires(self, date, user, settings, clock):
        settings.QUEUE_ACTIVE_IDLE_SECONDS, settings.HOLD_TTL_SECONDS = 120, 300
        client = login_client(user)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        token = client.post("/api/queue", body, format="json").json()["token"]
        headers = {"HTTP_X_QUEUE_TOKEN": token}
        hold = client.post(
            "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json", **headers
        )
        assert hold.status_code == 201
        clock.advance(250)  # idle for longer than 120 s, but the hold lives 300 s
        assert access_token_valid(token=token, user_id=user.pk, concert_date_id=date.pk)
        clock.advance(121)  # that request moved the deadline 120 s on from 250 s; now past it
        assert not access_token_valid(token=token, user_id=user.pk, concert_date_id=date.pk)

    def test_a_failed_hold_keeps_nothing(self, date, user, settings, clock):
        settings.QUEUE_ACTIVE_IDLE_SECONDS = 120
        client = login_client(user)
        token = client.post(
            "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json"
        ).json()["token"]
        missing = client.post(
            "/api/reservations", {"concert_date_id": date.pk, "seat_ids": [10**9]}, format="json",
            HTTP_X_QUEUE_TOKEN=token,
        )  # fmt: skip
        assert missing.status_code >= 400
        clock.advance(121)
        assert not access_token_valid(token=token, user_id=user.pk, concert_date_id=date.pk)


class TestBookingPathReports:
    def test_holds_report_their_latency(self, date, user, clock):
        client = login_client(user)
        token = client.post(
            "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json"
        ).json()["token"]
        client.post(
            "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json",
            HTTP_X_QUEUE_TOKEN=token,
        )  # fmt: skip
        second = clock.ms // 1000
        histogram = get_redis().hgetall(QueueKeys(date.pk).latency(second))
        assert sum(int(count) for field, count in histogram.items() if field != "shed") == 1
        assert "shed" not in histogram
        # Reading the seat map passes the same check but is not a booking write: nothing recorded.
        client.get(f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats", HTTP_X_QUEUE_TOKEN=token)
        assert sum(int(c) for f, c in get_redis().hgetall(QueueKeys(date.pk).latency(second)).items()) == 1

    @pytest.mark.parametrize(
        ("num_proxies", "stamp_ago_s", "recorded_ms"),
        [
            (1, 2.0, (1800, 2400)),  # behind the proxy: the 2 s queued for a worker count
            (0, 2.0, (0, 300)),  # no trusted proxy: a client's header is ignored
            (1, -5.0, (0, 300)),  # a stamp from the future is a clock problem, not a queue
            (1, 3600.0, (0, 300)),  # and so is one an hour old
        ],
    )
    def test_time_queued_behind_the_proxy_counts(
        self, date, user, clock, settings, num_proxies, stamp_ago_s, recorded_ms
    ):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
        client = login_client(user)
        token = client.post(
            "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json"
        ).json()["token"]
        response = client.post(
            "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json",
            HTTP_X_QUEUE_TOKEN=token, HTTP_X_REQUEST_START=f"t={time.time() - stamp_ago_s:.3f}",
        )  # fmt: skip
        assert response.status_code == 201
        (field,) = get_redis().hgetall(QueueKeys(date.pk).latency(clock.ms // 1000))
        low, high = recorded_ms
        assert low <= bin_upper_ms(field) / BIN_GROWTH <= high

    def test_histogram_bins_and_p95(self):
        fields = {}
        for ms in [10] * 95 + [1000] * 5:
            fields[latency_bin(ms)] = fields.get(latency_bin(ms), 0) + 1
        load = BookingLoad.from_histograms([fields, {"shed": "2"}])
        assert (load.samples, load.shed) == (100, 2)
        assert 10 <= load.p95_ms <= 11
        fields[latency_bin(1000)] += 1
        assert 1000 <= BookingLoad.from_histograms([fields]).p95_ms <= 1100
