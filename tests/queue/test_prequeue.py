"""The pre-queue and the draw at the opening."""

import datetime as dt
import random

import pytest

from apps.common.exceptions import Conflict
from apps.common.redis import get_redis
from apps.queue import draw, lottery, services
from apps.queue.keys import QueueKeys, dates_with_waiters_key, iso_utc
from apps.queue.models import QueueStatus
from apps.queue.tasks import admit_waiting_buyers_task
from tests.factories import make_date
from tests.helpers import assert_error, login_client, run_in_threads
from tests.queue.helpers import CHI_SQUARE_ONE_IN_A_MILLION, enter, places_chi_square, status

pytestmark = pytest.mark.django_db

OPENS_IN = dt.timedelta(minutes=10)


def open_sale(clock, date) -> None:
    """Move the clock just past the date's opening."""
    clock.now = date.booking_opens_at.timestamp() + 0.5


def drawn_order(date) -> list[int]:
    return [int(uid) for uid in get_redis().zrange(QueueKeys(date.pk).waiting, 0, -1)]


class TestEntryWindow:
    def test_too_early_is_409_with_when_the_queue_opens(self, clock, settings):
        settings.QUEUE_PREQUEUE_SECONDS = 300
        date = make_date(opens_in=dt.timedelta(minutes=6), starts_in=dt.timedelta(days=7))
        with pytest.raises(Conflict) as refused:
            enter(1, date)
        queue_opens_at = date.booking_opens_at - dt.timedelta(seconds=300)
        assert refused.value.code == "BOOKING_CLOSED"
        assert refused.value.details == {"queue_opens_at": iso_utc(queue_opens_at)}
        clock.advance(61)  # now 4 min 59 s before the opening: inside the pre-queue window
        assert enter(1, date).position is None

    def test_too_early_over_http(self, clock, user, settings):
        settings.QUEUE_PREQUEUE_SECONDS = 60
        date = make_date(opens_in=dt.timedelta(minutes=5), starts_in=dt.timedelta(days=7))
        client = login_client(user)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        error = assert_error(client.post("/api/queue", body, format="json"), 409, "BOOKING_CLOSED")
        opens = dt.datetime.fromisoformat(error["details"]["queue_opens_at"])
        assert opens == date.booking_opens_at - dt.timedelta(seconds=60)

    def test_prequeued_buyer_waits_without_a_place(self, prequeue_date, user, clock):
        client = login_client(user)
        body = {"concert_id": prequeue_date.concert_id, "concert_date_id": prequeue_date.pk}
        response = client.post("/api/queue", body, format="json")
        data = response.json()
        assert response.status_code == 201
        assert (data["status"], data["position"], data["estimated_wait_seconds"], data["token"]) == (
            QueueStatus.WAITING, None, None, None,
        )  # fmt: skip
        assert dt.datetime.fromisoformat(data["opens_at"]) == prequeue_date.booking_opens_at
        assert 30 <= data["poll_after_seconds"] <= 60
        assert client.post("/api/queue", body, format="json").status_code == 200  # the same entry
        query = f"concert_id={prequeue_date.concert_id}&concert_date_id={prequeue_date.pk}"
        polled = client.get(f"/api/queue/status?{query}").json()
        assert (polled["status"], polled["position"], polled["opens_at"]) == (
            QueueStatus.WAITING,
            None,
            data["opens_at"],
        )
        # Shortly before the opening the next poll comes just after it (within the ten-second window
        # of a small pre-queue).
        clock.advance(OPENS_IN.total_seconds() - 5)
        soon = client.get(f"/api/queue/status?{query}").json()
        assert 6 <= soon["poll_after_seconds"] <= 17
        open_sale(clock, prequeue_date)
        drawn = client.get(f"/api/queue/status?{query}").json()  # this poll draws: beat has not run yet
        assert (drawn["status"], drawn["position"], drawn["opens_at"]) == (QueueStatus.WAITING, 1, None)
        assert polled["number"] is None and drawn["number"] >= 1  # a number once the draw gave a place
        services.admit_next_batch(concert_date_id=prequeue_date.pk)
        assert client.get(f"/api/queue/status?{query}").json()["status"] == QueueStatus.READY

    def test_leaving_the_prequeue(self, prequeue_date, clock):
        enter(1, prequeue_date)
        services.leave_queue(user_id=1, concert_id=prequeue_date.concert_id, concert_date_id=prequeue_date.pk)
        assert status(1, prequeue_date).status == QueueStatus.NOT_IN_QUEUE
        open_sale(clock, prequeue_date)
        assert services.admit_next_batch(concert_date_id=prequeue_date.pk).drawn == 0


@pytest.mark.usefixtures("no_capacity")
class TestDraw:
    def test_the_draw_is_uniform(self, clock, monkeypatch):
        """Many real draws of eight buyers (seeded secrets): every buyer lands in every place about
        equally often. A draw in arrival or id order puts everyone in one place every time."""
        rng = random.Random(20261125)
        monkeypatch.setattr(lottery, "new_secret", lambda: rng.randbytes(32).hex())
        date = make_date(opens_in=OPENS_IN, starts_in=dt.timedelta(days=7))
        buyers, draws = list(range(1, 9)), 1600
        counts = {(buyer, place): 0 for buyer in buyers for place in range(len(buyers))}
        for _ in range(draws):
            clock.now = date.booking_opens_at.timestamp() - 60
            for uid in buyers:
                enter(uid, date)
            open_sale(clock, date)
            assert services.admit_next_batch(concert_date_id=date.pk).drawn == len(buyers)
            for place, uid in enumerate(drawn_order(date)):
                counts[uid, place] += 1
            services.reset_queue(concert_date_id=date.pk)
        chi_square = places_chi_square(counts, buyers=len(buyers), draws=draws)
        assert chi_square < CHI_SQUARE_ONE_IN_A_MILLION[49], chi_square  # 49 degrees of freedom

    def test_a_real_draw_of_1000_prequeued_buyers(self, prequeue_date, clock):
        prequeued = list(range(1, 1001))
        for uid in prequeued:
            enter(uid, prequeue_date)
        assert get_redis().scard(QueueKeys(prequeue_date.pk).prequeue) == 1000
        open_sale(clock, prequeue_date)
        assert admit_waiting_buyers_task.delay().get() == 0  # beat drew them; nobody polled
        order = drawn_order(prequeue_date)
        assert sorted(order) == prequeued
        assert [status(uid, prequeue_date).position for uid in order[:5]] == [1, 2, 3, 4, 5]
        # Not the arrival order: the rank correlation of arrival and drawn place is near zero
        # (its spread for a random order of 1,000 is about 0.03).
        n = len(order)
        place_of = {uid: place for place, uid in enumerate(order)}
        rho = 1 - 6 * sum((uid - 1 - place_of[uid]) ** 2 for uid in prequeued) / (n * (n * n - 1))
        assert abs(rho) < 0.15
        assert get_redis().get(QueueKeys(prequeue_date.pk).drawn).endswith(":1000")
        # Later arrivals come after every pre-queued buyer, first come, first served.
        for uid in (5001, 5002, 5003):
            enter(uid, prequeue_date)
        assert [status(uid, prequeue_date).position for uid in (5001, 5002, 5003)] == [1001, 1002, 1003]

    def test_the_draw_happens_on_time_without_polls(self, prequeue_date, clock):
        enter(1, prequeue_date)
        enter(2, prequeue_date)
        # Before the opening the beat keeps the date on its list and draws nothing.
        assert admit_waiting_buyers_task.delay().get() == 0
        assert get_redis().sismember(dates_with_waiters_key(), prequeue_date.pk)
        assert drawn_order(prequeue_date) == []
        open_sale(clock, prequeue_date)
        admit_waiting_buyers_task.delay().get()
        assert sorted(drawn_order(prequeue_date)) == [1, 2]

    def test_an_entry_after_the_opening_draws_first_if_beat_has_not(self, prequeue_date, clock):
        for uid in (1, 2, 3):
            enter(uid, prequeue_date)
        open_sale(clock, prequeue_date)
        late = enter(4, prequeue_date)
        assert late.position == 4
        assert sorted(drawn_order(prequeue_date)[:3]) == [1, 2, 3]


@pytest.mark.usefixtures("no_capacity")
class TestOpeningPolls:
    """The pre-queue comes back after the opening in the order of the draw, spread over a window sized
    to the pre-queue, instead of all at once."""

    def test_first_polls_after_the_opening_follow_the_draw_over_the_window(self, prequeue_date, clock, settings):
        settings.QUEUE_POLL_BUDGET = 25  # 1,000 pre-queued buyers: a 40 s window
        buyers = list(range(1, 1001))
        for uid in buyers:
            enter(uid, prequeue_date)
        opens = prequeue_date.booking_opens_at.timestamp()
        clock.now = opens - 20  # the last poll before the opening
        comes_back = {uid: clock.now + status(uid, prequeue_date).poll_after_seconds for uid in buyers}
        assert all(status(uid, prequeue_date).position is None for uid in buyers[:3])
        assert min(comes_back.values()) >= opens + 1
        assert max(comes_back.values()) - min(comes_back.values()) >= 35  # spread over the window
        assert max(comes_back.values()) <= opens + 1 + 40 + 1
        open_sale(clock, prequeue_date)
        assert services.admit_next_batch(concert_date_id=prequeue_date.pk).drawn == 1000
        order = drawn_order(prequeue_date)
        # The buyers drawn first come back first: the rank correlation of the drawn place and the
        # time of the first poll after the opening is near 1 (whole seconds tie, hence not exactly).
        by_time = sorted(buyers, key=lambda uid: comes_back[uid])
        place_of = {uid: place for place, uid in enumerate(order)}
        time_rank = {uid: rank for rank, uid in enumerate(by_time)}
        n = len(buyers)
        rho = 1 - 6 * sum((place_of[uid] - time_rank[uid]) ** 2 for uid in buyers) / (n * (n * n - 1))
        assert rho > 0.95, rho
        # At most about QUEUE_POLL_BUDGET of them in any one second.
        per_second: dict[int, int] = {}
        for moment in comes_back.values():
            per_second[int(moment)] = per_second.get(int(moment), 0) + 1
        assert max(per_second.values()) <= 2 * settings.QUEUE_POLL_BUDGET

    def test_the_draw_secret_lives_from_the_first_entry_on(self, prequeue_date, clock):
        key = QueueKeys(prequeue_date.pk).secret
        assert not get_redis().exists(key)
        first = enter(1, prequeue_date)
        secret = get_redis().get(key)
        assert len(secret) == 64
        second = enter(2, prequeue_date)
        assert get_redis().get(key) == secret  # the first entry's, kept
        open_sale(clock, prequeue_date)
        services.admit_next_batch(concert_date_id=prequeue_date.pk)
        assert get_redis().get(key) == secret  # kept after the draw: it is published
        # The order is that of the keys made with the stored secret and each buyer's nonce.
        nonces = {1: first.draw_nonce, 2: second.draw_nonce}
        expected = sorted((1, 2), key=lambda uid: draw.draw_key(secret=secret, user_id=uid, nonce=nonces[uid]))
        assert drawn_order(prequeue_date) == expected

    def test_a_big_prequeue_polls_less_often_before_the_opening(self, prequeue_date, settings):
        settings.QUEUE_POLL_BUDGET = 10
        for uid in range(1, 1001):
            enter(uid, prequeue_date)
        paces = [status(uid, prequeue_date).poll_after_seconds for uid in range(1, 51)]
        assert min(paces) >= 80 and max(paces) <= 120  # 1,000 / 10 a second, ± 20 %


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_capacity")
class TestDrawRaces:
    def test_exactly_one_draw_under_racing_runs_entries_and_polls(self, clock):
        date = make_date(opens_in=OPENS_IN, starts_in=dt.timedelta(days=7))
        prequeued = list(range(1, 301))
        for uid in prequeued:
            enter(uid, date)
        open_sale(clock, date)

        def work(i):
            if i < 8:
                return services.admit_next_batch(concert_date_id=date.pk)
            if i < 28:
                return status(i, date)  # pre-queued buyers polling at the opening
            return enter(1000 + i, date)  # new arrivals at the opening

        results = run_in_threads(60, work)
        assert not [r for r in results if isinstance(r, BaseException)]
        # Whoever came first drew (an admission run, a poll or an entry); nobody drew again.
        assert sum(run.drawn for run in results[:8]) in (0, 300)
        order = drawn_order(date)
        assert len(order) == len(set(order)) == 300 + 32
        # Every pre-queued buyer precedes every later arrival; the later ones keep arrival order
        # among themselves by their place numbers (strictly increasing, no gaps).
        assert sorted(order[:300]) == prequeued
        assert sorted(order[300:]) == [1000 + i for i in range(28, 60)]
        assert get_redis().get(QueueKeys(date.pk).drawn).endswith(":300")
        scores = [int(score) for _, score in get_redis().zrange(QueueKeys(date.pk).waiting, 0, -1, withscores=True)]
        assert scores == list(range(1, 333))

    def test_fifo_after_the_opening(self, clock):
        date = make_date(opens_in=OPENS_IN, starts_in=dt.timedelta(days=7))
        enter(1, date)
        open_sale(clock, date)
        states = [enter(uid, date) for uid in range(100, 120)]
        assert [state.position for state in states] == list(range(2, 22))
