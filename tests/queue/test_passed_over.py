"""Waiters late for the poll they were told: each answer records when its poll is due, admission passes
over a waiter later than that by more than QUEUE_POLL_GRACE_SECONDS (it keeps its number), and lets it
in, or puts it back in line, when it polls again."""

import random

import pytest

from apps.common.redis import get_redis
from apps.concerts.seat_counts import counts_key
from apps.queue import services
from apps.queue.keys import QueueKeys, ms_from_datetime
from apps.queue.models import QueueStatus
from apps.queue.pace import poll_cap_seconds
from tests.queue.helpers import enter, status

pytestmark = pytest.mark.django_db

GRACE = 60


@pytest.fixture
def line(settings, fixed_admission):
    """One admitted place at most, a batch of 10 (so that a short line spans every pacing band)."""
    settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH, settings.QUEUE_POLL_GRACE_SECONDS = 1, 10, GRACE
    settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS, settings.QUEUE_ACTIVE_IDLE_SECONDS = 540, 120


@pytest.fixture
def longest_told(monkeypatch):
    """Every random draw of the pacing at its largest: the longest interval an answer can tell."""
    monkeypatch.setattr(random, "uniform", lambda low, high: max(low, high))
    monkeypatch.setattr(random, "random", lambda: 1.0 - 1e-12)


def due_ms(date, user_id) -> float | None:
    return get_redis().zscore(QueueKeys(date.pk).due, str(user_id))


def told_with_stream(poll_after: int) -> int:
    """How late a page may poll after being told `poll_after`: as much again with an open stream, a
    minute at most (waiting-room.js pollDelay)."""
    return poll_after + min(poll_after, 60)


def fill_line(date, count: int, *, start: int = 1) -> None:
    """`count` waiters numbered after everyone, placed directly (no answers, so no due polls recorded)."""
    keys = QueueKeys(date.pk)
    redis = get_redis()
    first = redis.incrby(keys.seq, count) - count
    pipe = redis.pipeline(transaction=False)
    for offset in range(0, count, 5000):
        chunk = range(offset, min(count, offset + 5000))
        pipe.zadd(keys.waiting, {str(start + n): first + 1 + n for n in chunk})
    pipe.execute()


class TestTheDuePoll:
    @pytest.mark.parametrize("seats_free", [True, False])
    def test_it_is_never_before_the_poll_the_answer_told(self, date, settings, line, longest_told, clock, seats_free):
        """At places across every pacing band of a 3,000-long line (the pace then follows the length),
        seats free and every seat held: the recorded due poll is at or after the latest one the answer
        can have asked for."""
        settings.QUEUE_MAX_ACTIVE = 0
        fill_line(date, 3000)
        if not seats_free:  # every seat held: the line polls at the held seats' pace
            get_redis().hset(counts_key(date.pk), mapping={"available": 0, "held": 40})
        checked = 0
        for position in (1, 5, 10, 11, 50, 51, 200, 201, 999, 2999, 3000):
            state = status(position, date)
            assert (state.status, state.position) == (QueueStatus.WAITING, position)
            told = told_with_stream(state.poll_after_seconds) * 1000
            assert due_ms(date, position) >= clock.ms + told, position
            assert due_ms(date, position) <= clock.ms + 2 * poll_cap_seconds() * 1000
            checked += 1
        assert checked == 11

    def test_an_entrant_gets_one_too(self, date, line, longest_told, clock):
        enter(1, date)  # admitted at once: the line was empty
        state = enter(2, date)
        assert state.status == QueueStatus.WAITING
        assert due_ms(date, 2) >= clock.ms + told_with_stream(state.poll_after_seconds) * 1000

    def test_the_draw_gives_each_drawn_buyer_the_poll_its_last_answer_asked_for(
        self, prequeue_date, settings, line, longest_told, clock
    ):
        """Pre-queued buyers whose last poll came just before the opening are told to come back in the
        order of the draw over a window; each drawn buyer's due poll is at or after that moment."""
        opens = ms_from_datetime(prequeue_date.booking_opens_at)
        clock.advance((opens - clock.ms) / 1000 - 5)  # 5 s before the opening
        told_at = {}
        for uid in range(1, 41):
            state = enter(uid, prequeue_date)
            assert state.position is None
            told_at[uid] = clock.ms + state.poll_after_seconds * 1000
        assert max(told_at.values()) > opens  # they are told to come back after the opening
        clock.advance(6)
        assert services.admit_next_batch(concert_date_id=prequeue_date.pk, count=0).drawn == 40
        for uid, moment in told_at.items():
            assert due_ms(prequeue_date, uid) >= moment, uid


class TestPassingOver:
    def _two_waiting(self, date, clock):
        """1 admitted at once, 2 and 3 waiting behind; 1 then leaves. Returns 2's due poll (ms)."""
        enter(1, date)
        enter(2, date)
        enter(3, date)
        services.end_access(user_id=1, concert_date_id=date.pk)
        return due_ms(date, 2)

    def test_a_waiter_late_by_more_than_the_grace_is_passed_over_and_the_next_admitted(self, date, line, clock):
        due = self._two_waiting(date, clock)
        clock.advance((due - clock.ms) / 1000 + GRACE + 1)
        status(3, date)  # 3 keeps its appointments
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.passed_over, run.parked, run.waiting) == (1, 1, 1, 0)
        assert status(3, date).status == QueueStatus.READY

    def test_within_the_grace_it_is_admitted(self, date, line, clock):
        due = self._two_waiting(date, clock)
        clock.advance((due - clock.ms) / 1000 + GRACE - 1)
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.passed_over) == (1, 0)
        assert status(2, date).status == QueueStatus.READY

    def test_back_with_no_room_it_is_first_in_line_with_its_own_number(self, date, line, clock):
        due = self._two_waiting(date, clock)
        number = status(2, date).number
        clock.advance((due - clock.ms) / 1000 + GRACE + 1)
        status(3, date)
        services.admit_next_batch(concert_date_id=date.pk)  # 3 admitted, 2 passed over
        enter(4, date)  # behind everyone
        back = status(2, date)
        assert (back.status, back.position, back.number) == (QueueStatus.WAITING, 1, number)
        assert status(4, date).position == 2
        services.end_access(user_id=3, concert_date_id=date.pk)
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.passed_over, run.parked) == (1, 0, 0)
        assert status(2, date).status == QueueStatus.READY
        assert status(4, date).status == QueueStatus.WAITING

    def test_back_with_room_it_is_admitted_at_once(self, date, settings, line, clock):
        due = self._two_waiting(date, clock)
        clock.advance((due - clock.ms) / 1000 + GRACE + 1)
        status(3, date)
        services.admit_next_batch(concert_date_id=date.pk)
        settings.QUEUE_MAX_ACTIVE = 2
        back = status(2, date)
        assert back.status == QueueStatus.READY and back.token
        assert get_redis().zscore(QueueKeys(date.pk).parked, "2") is None

    def test_the_heartbeat_ends_a_passed_over_place(self, date, line, clock):
        self._two_waiting(date, clock)
        clock.advance(100)
        status(3, date)
        assert services.admit_next_batch(concert_date_id=date.pk).passed_over == 1
        clock.advance(441)  # 2 silent for the heartbeat timeout
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.pruned_waiters, run.parked) == (1, 0)
        assert status(2, date).status == QueueStatus.NOT_IN_QUEUE

    def test_leaving_ends_a_passed_over_place(self, date, line, clock):
        due = self._two_waiting(date, clock)
        clock.advance((due - clock.ms) / 1000 + GRACE + 1)
        status(3, date)
        services.admit_next_batch(concert_date_id=date.pk)
        assert services.end_access(user_id=2, concert_date_id=date.pk)
        assert status(2, date).status == QueueStatus.NOT_IN_QUEUE

    def test_the_date_stays_on_the_admission_list_while_someone_is_passed_over(self, date, line, clock):
        due = self._two_waiting(date, clock)
        services.end_access(user_id=3, concert_date_id=date.pk)
        clock.advance((due - clock.ms) / 1000 + GRACE + 1)
        [run] = [r for r in services.admit_all_dates() if r.concert_date_id == date.pk]
        assert (run.waiting, run.active, run.parked) == (0, 0, 1)
        status(2, date)  # back: no one admitted, so there is room
        assert date.pk in [r.concert_date_id for r in services.admit_all_dates()]

    def test_a_line_of_the_gone_does_not_hold_the_places(self, date, settings, line, clock):
        """Many who left ahead of those still here: one run passes over every one of them and admits those
        who poll, instead of handing out places nobody claims."""
        settings.QUEUE_MAX_ACTIVE = 0
        for uid in range(1, 201):
            enter(uid, date)
        clock.advance(400)  # beyond every due poll and the grace
        for uid in range(191, 201):
            status(uid, date)
        settings.QUEUE_MAX_ACTIVE = 10
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.passed_over, run.waiting) == (10, 190, 0)
        assert all(status(uid, date).status == QueueStatus.READY for uid in range(191, 201))


class TestTheAdmittedPlace:
    def test_it_idles_from_the_due_poll_and_the_grace(self, date, line, clock):
        enter(1, date)
        enter(2, date)
        services.end_access(user_id=1, concert_date_id=date.pk)
        due = due_ms(date, 2)
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 1
        assert get_redis().zscore(QueueKeys(date.pk).idle, "2") == due + GRACE * 1000
        clock.advance((due - clock.ms) / 1000 + GRACE - 1)
        assert services.admit_next_batch(concert_date_id=date.pk).idle_reclaimed == 0
        clock.advance(2)  # the buyer never came for the turn
        assert services.admit_next_batch(concert_date_id=date.pk).idle_reclaimed == 1

    def test_a_ready_answer_gives_an_idle_period_from_now(self, date, line, clock):
        enter(1, date)
        enter(2, date)
        services.end_access(user_id=1, concert_date_id=date.pk)
        services.admit_next_batch(concert_date_id=date.pk)
        clock.advance(5)
        assert status(2, date).status == QueueStatus.READY
        assert get_redis().zscore(QueueKeys(date.pk).idle, "2") == clock.ms + 120_000

    def test_a_place_idle_past_its_deadline_ends_at_the_poll(self, date, line, clock):
        services.issue_access_token(user_id=1, concert_date_id=date.pk)
        clock.advance(121)
        assert status(1, date).status == QueueStatus.NOT_IN_QUEUE
        assert get_redis().zscore(QueueKeys(date.pk).active, "1") is None

    def test_one_placed_without_a_due_poll_keeps_the_longest_poll_and_an_idle_period(self, date, line, clock):
        """Waiters placed by hand (operators' tools, benchmarks) have no due poll on record."""
        fill_line(date, 1, start=7)
        services.admit_next_batch(concert_date_id=date.pk)
        assert get_redis().zscore(QueueKeys(date.pk).idle, "7") == clock.ms + (120 + poll_cap_seconds()) * 1000


def test_a_poll_far_back_in_a_long_line_is_due_within_the_cap_and_a_minute(date, settings, line, clock):
    """The longest due poll: the poll cap, and a minute more for a page whose stream tells it its turn."""
    settings.QUEUE_MAX_ACTIVE = 0
    fill_line(date, 20_000)
    assert status(20_000, date).position == 20_000
    assert due_ms(date, 20_000) == clock.ms + (poll_cap_seconds() + 60) * 1000 == clock.ms + 240_000
