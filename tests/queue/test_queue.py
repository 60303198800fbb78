import datetime as dt
import math

import pytest
from django.core import signing
from django.utils import timezone

from apps.common.exceptions import Conflict, NotFound
from apps.common.redis import get_redis
from apps.queue import line, services, tokens
from apps.queue.keys import QueueKeys, dates_with_waiters_key, now_ms
from apps.queue.models import QueueStatus
from apps.queue.tasks import admit_waiting_buyers_task
from tests.factories import UserFactory, make_date
from tests.helpers import access_token_valid, assert_error, login_client, redis_unreachable, run_in_threads
from tests.queue.helpers import enter, fill_capacity, same_admission, status

pytestmark = pytest.mark.django_db

# More seats than these tests admit: the line is admitted only as far as the seats go.
ROOMY = [{"name": "Floor", "rows": 10, "seats_per_row": 20, "price": "50000.00"}]


class TestEnter:
    def test_free_capacity_and_nobody_waiting_admits_at_once(self, date):
        state = enter(1, date)
        assert (state.status, state.position, state.created) == (QueueStatus.READY, 0, True)
        assert access_token_valid(token=state.token, user_id=1, concert_date_id=date.pk)
        again = enter(1, date)
        assert (again.status, again.created, again.token) == (QueueStatus.READY, False, state.token)

    def test_full_date_puts_entrants_in_line_in_arrival_order(self, date, settings):
        fill_capacity(date, settings)
        states = [enter(uid, date) for uid in (11, 12, 13)]
        assert [(s.status, s.position, s.created) for s in states] == [
            (QueueStatus.WAITING, n, True) for n in (1, 2, 3)
        ]
        assert states[0].token is None and states[0].expires_at is None
        assert states[0].estimated_wait_seconds >= 1
        assert 1 <= states[0].poll_after_seconds <= 60
        # Entering again keeps the first place.
        assert (enter(11, date).position, enter(11, date).created) == (1, False)

    def test_someone_waiting_means_no_jumping_the_line(self, date, settings):
        fill_capacity(date, settings)
        enter(11, date)
        settings.QUEUE_MAX_ACTIVE = 100  # capacity frees up, but 11 is still waiting
        assert enter(12, date).status == QueueStatus.WAITING

    def test_unknown_or_mismatched_or_closed_dates(self, date, user):
        other = make_date()
        with pytest.raises(NotFound):
            services.enter_queue(user_id=1, concert_id=date.concert_id, concert_date_id=10**12)
        with pytest.raises(NotFound):
            services.enter_queue(user_id=1, concert_id=other.concert_id, concert_date_id=date.pk)
        closed = make_date(booking_open=False)
        with pytest.raises(Conflict) as exc:
            enter(1, closed)
        assert exc.value.code == "BOOKING_CLOSED"
        past = make_date(starts_in=-dt.timedelta(hours=2))
        with pytest.raises(Conflict):
            enter(1, past)


@pytest.mark.usefixtures("fixed_admission")
class TestAdmission:
    def test_admits_in_arrival_order_up_to_batch_and_cap(self, date, settings):
        fill_capacity(date, settings, active=0)
        for uid in range(1, 11):
            enter(uid, date)
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH = 5, 3
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.active, run.waiting) == (3, 3, 7)
        assert [status(uid, date).status for uid in (1, 2, 3, 4)] == [
            QueueStatus.READY,
            QueueStatus.READY,
            QueueStatus.READY,
            QueueStatus.WAITING,
        ]
        # Everyone behind moved up by exactly the number admitted.
        assert [status(uid, date).position for uid in range(4, 11)] == list(range(1, 8))
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.admitted, run.active) == (2, 5)  # capped by QUEUE_MAX_ACTIVE
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 0

    def test_leaving_and_paying_free_places(self, date, settings):
        settings.QUEUE_MAX_ACTIVE = 2
        a, b = enter(1, date), enter(2, date)
        assert (a.status, b.status) == (QueueStatus.READY, QueueStatus.READY)
        assert enter(3, date).status == QueueStatus.WAITING
        services.end_access(user_id=1, concert_date_id=date.pk)  # e.g. the payment completed
        assert not access_token_valid(token=a.token, user_id=1, concert_date_id=date.pk)
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 1
        assert status(3, date).status == QueueStatus.READY
        assert status(1, date).status == QueueStatus.NOT_IN_QUEUE

    def test_expired_tokens_free_their_places(self, date, settings, clock):
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_TOKEN_TTL_SECONDS = 1, 1
        first = enter(1, date)
        assert enter(2, date).status == QueueStatus.WAITING
        clock.advance(1.1)
        assert not access_token_valid(token=first.token, user_id=1, concert_date_id=date.pk)
        assert status(1, date).status == QueueStatus.NOT_IN_QUEUE
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.expired_tokens, run.admitted) == (1, 1)
        assert status(2, date).status == QueueStatus.READY

    def test_silent_waiters_lose_their_place(self, date, settings, clock):
        fill_capacity(date, settings)
        settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS = 1
        for uid in (1, 2, 3):
            enter(uid, date)
        clock.advance(1.2)
        status(2, date)  # 2 keeps polling; 1 and 3 went quiet
        run = services.admit_next_batch(concert_date_id=date.pk)
        assert (run.pruned_waiters, run.admitted, run.waiting) == (2, 0, 1)
        assert status(1, date).status == QueueStatus.NOT_IN_QUEUE
        assert status(3, date).status == QueueStatus.NOT_IN_QUEUE
        assert status(2, date).position == 1
        # Coming back means a new place at the back, not the old one.
        enter(1, date)
        assert status(1, date).position == 2

    def test_the_beat_task_admits_every_date_with_waiters(self, settings):
        settings.QUEUE_MAX_ACTIVE = 1
        dates = [make_date(), make_date()]
        for d in dates:
            enter(100, d)  # admitted at once, fills the date
            enter(101, d)  # waits
        services.end_access(user_id=100, concert_date_id=dates[0].pk)
        services.end_access(user_id=100, concert_date_id=dates[1].pk)
        assert admit_waiting_buyers_task.delay().get() == 2
        assert all(status(101, d).status == QueueStatus.READY for d in dates)

    def test_a_retried_entry_marks_the_date_for_admission_again(self, date, settings):
        fill_capacity(date, settings)
        dates_key = dates_with_waiters_key()
        enter(1, date)
        # As if the mark had been lost after the script ran (connection dropped, client retries).
        get_redis().srem(dates_key, date.pk)
        assert enter(1, date).created is False
        assert get_redis().sismember(dates_key, date.pk)

    def test_a_script_redis_forgot_is_loaded_again(self, date):
        from apps.queue import redis_scripts

        # What a Redis restart does to every registered script, without flushing the shared server's.
        redis_scripts._registered(redis_scripts.ENTER).sha = "0" * 40
        redis_scripts._registered(redis_scripts.STATUS).sha = "0" * 40
        assert enter(1, date).status == QueueStatus.READY
        assert status(1, date).status == QueueStatus.READY

    def test_estimated_wait_follows_the_observed_rate(self, date, settings):
        settings.QUEUE_ADMIT_BATCH, settings.QUEUE_ADMIT_INTERVAL_SECONDS = 10, 10  # configured: 1 per second
        keys = QueueKeys(date.pk)
        now = now_ms()
        # Runs of 60 at -60 s, -30 s and now: 120 admitted in the 60 s since the first run, 2 per second.
        runs = {f"{now - 60_000}:60:a": now - 60_000, f"{now - 30_000}:60:b": now - 30_000, f"{now}:60:c": now}
        get_redis().zadd(keys.admissions, runs)
        fill_capacity(date, settings)
        for uid in range(1, 11):
            enter(uid, date)
        # Position 10 at 2/s; the window has grown by a few ms since, so the rounding-up may add a second.
        assert status(10, date).estimated_wait_seconds in (5, 6)
        get_redis().delete(keys.admissions)
        assert status(10, date).estimated_wait_seconds == 10  # the configured rate (1/s), with no history

    def test_the_rate_follows_real_admission_runs(self, date, settings, clock):
        settings.QUEUE_ADMIT_BATCH, settings.QUEUE_ADMIT_INTERVAL_SECONDS = 4, 1  # configured: 4 per second
        fill_capacity(date, settings, active=0)
        for uid in range(1, 41):
            enter(uid, date)
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH = 1000, 2  # the line actually moves 2 per run
        for _ in range(3):
            assert services.admit_next_batch(concert_date_id=date.pk).admitted == 2
            clock.advance(1)
        # Runs at 0, 1 and 2 s (the clock is now at 3 s): the 4 admitted after the first run, over the
        # 3 s since it, is 1.33 per second, not the configured 4.
        last = status(40, date)
        assert (last.position, last.estimated_wait_seconds) == (34, math.ceil(34 / (4 / 3)))

    def test_admission_runs_are_what_the_rate_observes(self, settings):
        date = make_date(layout=ROOMY)
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH = 50, 5
        for uid in range(1, 51):
            assert enter(uid, date).status == QueueStatus.READY
        # 50 immediate admissions did not move anybody's place: they are not the line's pace.
        assert get_redis().zcard(QueueKeys(date.pk).admissions) == 0
        for uid in range(51, 61):
            enter(uid, date)
        for uid in range(1, 6):
            services.end_access(user_id=uid, concert_date_id=date.pk)
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 5
        (member,) = get_redis().zrange(QueueKeys(date.pk).admissions, 0, -1)
        assert member.split(":")[1] == "5"

    def test_poll_interval_grows_with_position(self, settings):
        settings.QUEUE_ADMIT_BATCH = 100
        near = [line.poll_after_seconds(5, 100) for _ in range(20)]
        settings.QUEUE_POLL_BUDGET = 150
        far = [line.poll_after_seconds(2_500, 100_000, 20_000) for _ in range(20)]  # 2,500 x ln 20,001 / 150
        back = [line.poll_after_seconds(50_000, 100_000) for _ in range(20)]
        assert max(near) <= 4
        assert min(far) >= 0.8 * 165 - 1 and max(far) <= 180
        settings.QUEUE_POLL_BUDGET = 10**6  # no pacing by the budget: the bands alone
        assert min(line.poll_after_seconds(2_500, 100_000, 20_000) for _ in range(20)) >= 30
        assert max(line.poll_after_seconds(2_500, 100_000, 20_000) for _ in range(20)) <= 60
        assert set(back) == {settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS // 3}  # the heartbeat's bound

    def test_a_long_line_polls_within_the_budget(self, settings):
        """Summed over every place, the polls a second stay near QUEUE_POLL_BUDGET; a flat 30-60 s
        far back would be about 450 a second for 20,000 waiters."""
        settings.QUEUE_ADMIT_BATCH, settings.QUEUE_POLL_BUDGET = 110, 150
        for length, most in ((5_000, 150), (20_000, 1.25 * 150)):
            per_second = sum(1 / line.poll_after_seconds(p, 10**9, length) for p in range(1, length + 1))
            assert per_second <= most, (length, per_second)

    def test_nobody_is_told_to_poll_after_the_turn(self):
        assert line.poll_after_seconds(3_000, 40, 20_000) <= 20


class TestTokens:
    def test_every_kind_of_bad_token_is_refused(self, date, settings):
        good = services.issue_access_token(user_id=1, concert_date_id=date.pk)
        other_date = make_date()
        check = access_token_valid
        assert check(token=good.token, user_id=1, concert_date_id=date.pk)
        assert not check(token=good.token, user_id=2, concert_date_id=date.pk)  # another user
        assert not check(token=good.token, user_id=1, concert_date_id=other_date.pk)  # another date
        assert not check(token="", user_id=1, concert_date_id=date.pk)  # missing
        assert not check(token="garbage", user_id=1, concert_date_id=date.pk)  # malformed
        forged = signing.dumps({"u": 1, "d": date.pk, "e": 2**40}, salt="queue.access-token", key="not-the-key")
        assert not check(token=forged, user_id=1, concert_date_id=date.pk)  # forged signature
        tampered = good.token[:-2] + ("AA" if not good.token.endswith("AA") else "BB")
        assert not check(token=tampered, user_id=1, concert_date_id=date.pk)
        unrecorded = tokens.make_token(user_id=1, concert_date_id=date.pk, expires_ms=now_ms() + 60_000)
        assert not check(token=unrecorded, user_id=1, concert_date_id=date.pk)  # signed but not issued
        services.end_access(user_id=1, concert_date_id=date.pk)
        assert not check(token=good.token, user_id=1, concert_date_id=date.pk)  # revoked

    def test_a_new_admission_retires_the_old_token(self, date, clock):
        first = services.issue_access_token(user_id=1, concert_date_id=date.pk)
        clock.advance(0.002)
        second = services.issue_access_token(user_id=1, concert_date_id=date.pk)
        assert not access_token_valid(token=first.token, user_id=1, concert_date_id=date.pk)
        assert access_token_valid(token=second.token, user_id=1, concert_date_id=date.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fixed_admission")
class TestRaces:
    def test_1000_concurrent_enters_get_1000_consecutive_positions(self, settings):
        date = make_date()
        fill_capacity(date, settings)
        status(1, date)  # the date's facts are cached per process, as in a running server
        results = run_in_threads(1000, lambda i: enter(1000 + i, date))
        assert not [r for r in results if isinstance(r, BaseException)]
        assert sorted(r.position for r in results) == list(range(1, 1001))
        assert get_redis().zcard(QueueKeys(date.pk).waiting) == 1000

    def test_one_user_entering_50_times_at_once_holds_one_place(self, settings):
        date = make_date()
        fill_capacity(date, settings)
        enter(1, date)
        results = run_in_threads(50, lambda i: enter(2, date))
        assert {r.position for r in results} == {2}
        assert sum(r.created for r in results) == 1
        assert get_redis().zcard(QueueKeys(date.pk).waiting) == 2

    def test_concurrent_admission_runs_never_exceed_the_caps(self, settings):
        date = make_date(layout=ROOMY)
        fill_capacity(date, settings, active=0)
        for uid in range(1, 501):
            enter(uid, date)
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH = 120, 50
        runs = run_in_threads(8, lambda i: services.admit_next_batch(concert_date_id=date.pk))
        assert sum(run.admitted for run in runs) == 120
        assert all(run.admitted <= 50 for run in runs)
        keys = QueueKeys(date.pk)
        assert get_redis().zcard(keys.active) == 120
        # Admitted exactly the first 120 arrivals.
        assert sorted(int(uid) for uid in get_redis().zrange(keys.active, 0, -1)) == list(range(1, 121))

    def test_positions_move_up_by_exactly_the_number_admitted_while_others_poll(self, settings):
        date = make_date(layout=ROOMY)
        fill_capacity(date, settings, active=0)
        for uid in range(1, 301):
            enter(uid, date)
        settings.QUEUE_MAX_ACTIVE, settings.QUEUE_ADMIT_BATCH = 1000, 40

        def work(i):
            if i < 3:
                return services.admit_next_batch(concert_date_id=date.pk).admitted
            return status(300 - i, date).position  # pollers near the back, racing the admissions

        results = run_in_threads(20, work)
        assert not [r for r in results if isinstance(r, BaseException)]
        assert sum(results[:3]) == 120
        assert [status(uid, date).position for uid in range(121, 301)] == list(range(1, 181))
        assert all(status(uid, date).status == QueueStatus.READY for uid in range(1, 121))


class TestApi:
    def test_enter_status_leave_shapes(self, date, user, settings, django_assert_num_queries):
        client = login_client(user)
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        first = client.post("/api/queue", body, format="json")
        assert first.status_code == 201
        data = first.json()
        assert set(data) >= {
            "user_id", "concert_id", "concert_date_id", "status", "position", "estimated_wait_seconds", "token", "expires_at",
        }  # fmt: skip
        assert (data["user_id"], data["status"], data["position"], data["number"]) == (
            user.pk,
            QueueStatus.READY,
            0,
            None,
        )
        assert client.post("/api/queue", body, format="json").status_code == 200
        with django_assert_num_queries(0):
            polled = client.get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}")
        # The same admission (tokens signed in another second differ in their signing time only).
        assert same_admission(polled.json()["token"], data["token"])
        token = client.post("/api/reservations/token", body, format="json").json()
        assert (token["status"], token["expiry_time"]) == (QueueStatus.READY, data["expires_at"])
        assert same_admission(token["token"], data["token"])
        left = client.delete(f"/api/queue?concert_id={date.concert_id}&concert_date_id={date.pk}")
        assert left.status_code == 204
        gone = client.get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}").json()
        assert (gone["status"], gone["token"]) == (QueueStatus.NOT_IN_QUEUE, None)

    def test_waiting_answer_tells_when_to_poll(self, date, user, settings, fixed_admission):
        fill_capacity(date, settings)
        client = login_client(user)
        response = client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        data = response.json()
        assert (response.status_code, data["status"], data["position"], data["token"]) == (
            201,
            QueueStatus.WAITING,
            1,
            None,
        )
        assert int(response["Retry-After"]) == data["poll_after_seconds"] >= 1

    def test_a_waiters_number_stays_while_the_position_moves_and_admission_records_how_far_it_went(
        self, date, settings, fixed_admission
    ):
        fill_capacity(date, settings)
        clients = [login_client(UserFactory()) for _ in range(3)]
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        entered = [client.post("/api/queue", body, format="json").json() for client in clients]
        numbers = [answer["number"] for answer in entered]
        assert [answer["position"] for answer in entered] == [1, 2, 3]
        assert numbers == sorted(numbers) and len(set(numbers)) == 3
        query = f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}"
        assert clients[0].delete(query.replace("/status", "")).status_code == 204  # the first leaves
        moved = clients[2].get(query).json()
        assert (moved["position"], moved["number"]) == (2, numbers[2])
        control = QueueKeys(date.pk).control
        assert get_redis().hget(control, "admitted_through") is None
        settings.QUEUE_MAX_ACTIVE += 1
        assert services.admit_next_batch(concert_date_id=date.pk).admitted == 1
        assert int(float(get_redis().hget(control, "admitted_through"))) == numbers[1]  # the head of the line
        ready = clients[1].get(query).json()
        assert (ready["status"], ready["position"], ready["number"]) == (QueueStatus.READY, 0, None)
        assert clients[2].get(query).json()["number"] == numbers[2]

    @pytest.mark.parametrize(
        "query", ["", "concert_id=1", "concert_id=x&concert_date_id=1", "concert_id=1&concert_date_id=-5"]
    )
    def test_bad_parameters(self, user, query):
        client = login_client(user)
        error = assert_error(client.get(f"/api/queue/status?{query}"), 400, "VALIDATION_ERROR")
        assert set(error["details"]) & {"concert_id", "concert_date_id"}  # names the bad field
        assert_error(client.delete(f"/api/queue?{query}"), 400, "VALIDATION_ERROR")

    @pytest.mark.parametrize(
        "body",
        [{}, {"concert_id": 1}, {"concert_id": "x", "concert_date_id": 1}, {"concert_id": 1, "concert_date_id": 0}],
    )
    def test_bad_bodies(self, user, body):
        client = login_client(user)
        for path in ("/api/queue", "/api/reservations/token"):
            error = assert_error(client.post(path, body, format="json"), 400, "VALIDATION_ERROR")
            assert set(error["details"]) & {"concert_id", "concert_date_id"}

    def test_errors(self, date, user, api_client):
        client = login_client(user)
        assert_error(
            client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": 10**12}, format="json"),
            404,
            "NOT_FOUND",
        )
        closed = make_date(booking_open=False)
        assert_error(
            client.post("/api/queue", {"concert_id": closed.concert_id, "concert_date_id": closed.pk}, format="json"),
            409,
            "BOOKING_CLOSED",
        )
        assert_error(api_client.post("/api/queue", {}, format="json"), 401, "NOT_AUTHENTICATED")

    def test_logged_out_access_token_is_refused_without_a_database(self, date, user):
        client = login_client(user)
        client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
        assert_error(
            client.get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}"),
            401,
            "NOT_AUTHENTICATED",
        )

    @pytest.mark.parametrize("method", ["post", "get", "delete", "token"])
    def test_redis_down_is_503(self, date, user, method):
        # The token's revocation and the rate limits travel with the queue operation: the outage is
        # met by that one round trip, which must not catch and hide it.
        client = login_client(user)
        status(1, date)  # the date's facts are cached, as in a running server
        query = f"concert_id={date.concert_id}&concert_date_id={date.pk}"
        body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
        with redis_unreachable():
            response = {
                "post": lambda: client.post("/api/queue", body, format="json"),
                "get": lambda: client.get(f"/api/queue/status?{query}"),
                "delete": lambda: client.delete(f"/api/queue?{query}"),
                "token": lambda: client.post("/api/reservations/token", body, format="json"),
            }[method]()
        assert_error(response, 503, "SERVICE_UNAVAILABLE")

    def test_queue_token_guards_the_protected_endpoints(self, date, user):
        from tests.factories import seat_ids

        client = login_client(user)
        state = client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
        body = {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}
        assert_error(client.post("/api/reservations", body, format="json"), 403, "QUEUE_TOKEN_REQUIRED")
        response = client.post("/api/reservations", body, format="json", HTTP_X_QUEUE_TOKEN=state.json()["token"])
        assert response.status_code == 201
        other = login_client(UserFactory())
        assert_error(
            other.post("/api/reservations", body, format="json", HTTP_X_QUEUE_TOKEN=state.json()["token"]),
            403,
            "QUEUE_TOKEN_REQUIRED",
        )


def test_expires_at_is_in_the_future(date):
    state = enter(5, date)
    assert state.expires_at > timezone.now()
