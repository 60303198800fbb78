"""Sold out, told to everyone waiting: every status answer carries the date's free and held seats;
with none of either the line answers SOLD_OUT and entry 409 SOLD_OUT; seats that come back reopen
the line in its old order. Over HTTP, on MariaDB and Redis, with the after-commit effects run."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.common.redis import get_redis
from apps.concerts.seat_counts import counts_key, forget_seat_counts
from apps.queue import services
from apps.queue.keys import QueueKeys
from apps.queue.selectors import describe, queue_summary
from apps.reservations import services as reservations
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import admitted_client, assert_error, fund, hold_via_api, login_client

pytestmark = pytest.mark.django_db

TWO_SEATS = [{"name": "Floor", "rows": 1, "seats_per_row": 2, "price": "50000.00"}]


@pytest.fixture
def small_date(db):
    return make_date(layout=TWO_SEATS)


@pytest.fixture
def effects(django_capture_on_commit_callbacks):
    """Run a block's after-commit effects (the seat counts move there), as a committed request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def buyer_client():
    """A logged-in buyer's client (`client.user`), not admitted."""
    user = UserFactory()
    client = login_client(user)
    client.user = user
    return client


def body(date) -> dict:
    return {"concert_id": date.concert_id, "concert_date_id": date.pk}


def poll(client, date):
    return client.get(f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}")


def enter(client, date):
    return client.post("/api/queue", body(date), format="json")


def admit(date):
    return services.admit_next_batch(concert_date_id=date.pk)


@pytest.fixture
def line(small_date, settings):
    """One admitted buyer (funded, `seller`) and two buyers waiting behind, first and second."""
    settings.QUEUE_ADMISSION, settings.QUEUE_ADMIT_INTERVAL_SECONDS = "fixed", 10
    settings.QUEUE_MAX_ACTIVE = 1
    seller = UserFactory()
    fund(seller, "100000.00")
    admitted = admitted_client(small_date, seller)
    first, second = buyer_client(), buyer_client()
    assert enter(first, small_date).json()["position"] == 1
    assert enter(second, small_date).json()["position"] == 2
    return admitted, first, second


def hold_both(client, date, effects) -> int:
    with effects():
        response = hold_via_api(client, date, seat_ids(date))
    assert response.status_code == 201, response.content
    return response.json()["id"]


def pay(client, reservation_id, effects) -> None:
    with effects():
        response = client.post("/api/payments", {"reservation_id": reservation_id}, format="json")
    assert response.status_code == 201, response.content


class TestEveryAnswerCarriesTheCounts:
    def test_entry_status_and_token_answers(self, small_date, user):
        client = login_client(user)
        entered = enter(client, small_date).json()
        assert (entered["status"], entered["seats_available"], entered["seats_held"]) == ("READY", 2, 0)
        polled = poll(client, small_date).json()
        assert (polled["status"], polled["seats_available"], polled["seats_held"]) == ("READY", 2, 0)
        token = client.post("/api/reservations/token", body(small_date), format="json").json()
        assert (token["status"], token["seats_available"], token["seats_held"]) == ("READY", 2, 0)
        never = poll(buyer_client(), small_date).json()
        assert (never["status"], never["seats_available"]) == ("NOT_IN_QUEUE", 2)


class TestSoldOut:
    def test_the_last_seat_paid_sells_out_the_line(self, line, small_date, effects):
        admitted, first, second = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        for waiter in (first, second):
            response = poll(waiter, small_date)
            assert response.status_code == 200
            answer = response.json()
            assert answer["status"] == "SOLD_OUT"
            assert (answer["position"], answer["token"], answer["poll_after_seconds"]) == (None, None, None)
            assert (answer["seats_available"], answer["seats_held"]) == (0, 0)
            assert "Retry-After" not in response
        # Nobody new gets in, by either entry; those waiting are refused too, but keep their places.
        newcomer = buyer_client()
        assert_error(enter(newcomer, small_date), 409, "SOLD_OUT")
        assert_error(newcomer.post("/api/reservations/token", body(small_date), format="json"), 409, "SOLD_OUT")
        assert_error(enter(first, small_date), 409, "SOLD_OUT")
        keys = QueueKeys(small_date.pk)
        assert get_redis().zcard(keys.waiting) == 2
        assert get_redis().zscore(keys.active, str(newcomer.user.pk)) is None
        # Admitting into a sold-out date is waste: the run admits nobody, though a place is free.
        run = admit(small_date)
        assert (run.admitted, run.active, run.waiting) == (0, 0, 2)
        assert describe(queue_summary(concert_date_id=small_date.pk)).endswith(
            "2 waiting · 0/min admitted · oldest wait 0 s · sold out"
        )

    def test_an_admitted_buyer_stays_ready(self, small_date, settings, effects):
        """Admitted buyers may hold a seat that comes back; the token keeps working."""
        settings.QUEUE_MAX_ACTIVE = settings.QUEUE_MIN_ACTIVE = 5
        watcher = UserFactory()
        watching = admitted_client(small_date, watcher)
        seller = UserFactory()
        fund(seller, "100000.00")
        buying = admitted_client(small_date, seller)
        pay(buying, hold_both(buying, small_date, effects), effects)
        answer = poll(watching, small_date).json()
        assert (answer["status"], answer["seats_available"], answer["seats_held"]) == ("READY", 0, 0)
        assert answer["token"]
        again = enter(watching, small_date)
        assert (again.status_code, again.json()["status"]) == (200, "READY")
        # The buyer who paid has no access left: the date is sold out for them as for anyone.
        assert poll(buying, small_date).json()["status"] == "SOLD_OUT"

    def test_seats_held_only_keep_the_line_waiting_and_polling_slowly(self, small_date, settings, effects):
        settings.QUEUE_ADMISSION, settings.QUEUE_ADMIT_INTERVAL_SECONDS = "fixed", 10
        settings.QUEUE_MAX_ACTIVE = settings.QUEUE_ADMIT_BATCH = 5
        holder = admitted_client(small_date, UserFactory())
        hold_both(holder, small_date, effects)
        # Room among the admitted, nobody waiting, but no free seat: the entrant waits instead.
        waiter = buyer_client()
        response = enter(waiter, small_date)
        answer = response.json()
        assert (response.status_code, answer["status"], answer["position"]) == (201, "WAITING", 1)
        assert (answer["seats_available"], answer["seats_held"]) == (0, 2)
        polled = poll(waiter, small_date)
        assert polled.json()["status"] == "WAITING"
        assert 15 <= polled.json()["poll_after_seconds"] <= 27  # slower than the front of a line (2-4 s)
        assert describe(queue_summary(concert_date_id=small_date.pk)).endswith(" · 0 seats free, 2 held")
        assert polled["Retry-After"] == str(polled.json()["poll_after_seconds"])
        assert admit(small_date).admitted == 0

    def test_a_near_sold_out_date_admits_one_buyer_per_free_seat(self, small_date, settings):
        settings.QUEUE_ADMISSION, settings.QUEUE_ADMIT_INTERVAL_SECONDS = "fixed", 10
        settings.QUEUE_MAX_ACTIVE = 0
        for _ in range(5):
            enter(buyer_client(), small_date)
        settings.QUEUE_MAX_ACTIVE = settings.QUEUE_ADMIT_BATCH = 5
        run = admit(small_date)
        assert (run.admitted, run.waiting) == (2, 3)


TEN_SEATS = [{"name": "Floor", "rows": 1, "seats_per_row": 10, "price": "100.00"}]


class TestAdmissionNearTheEnd:
    """Nobody is admitted beyond what the unsold seats can serve: free and held seats over the mean
    seats a hold takes, less the buyers already admitted (holders and those still to hold)."""

    @pytest.fixture
    def ten_seats(self, db, settings):
        settings.QUEUE_ADMISSION, settings.QUEUE_ADMIT_INTERVAL_SECONDS = "fixed", 10
        settings.QUEUE_MAX_ACTIVE = settings.QUEUE_ADMIT_BATCH = 8
        return make_date(layout=TEN_SEATS)

    def holds_of_two_seats(self, date, holds: int) -> None:
        """`holds` holds of two seats each, as the booking path records them."""
        from apps.queue.controller import booking_request_record

        for _ in range(holds):
            booking_request_record(concert_date_id=date.pk, user_id=0, ms=10, shed=False, seats_held=2).run()

    def test_a_hold_records_its_size_for_the_admission(self, ten_seats, effects):
        buyer = admitted_client(ten_seats, UserFactory())
        with effects():
            response = hold_via_api(buyer, ten_seats, seat_ids(ten_seats)[:3])
        assert response.status_code == 201, response.content
        control = get_redis().hgetall(QueueKeys(ten_seats.pk).control)
        assert (control["holds"], control["hold_seats"]) == ("1", "3")
        refused = hold_via_api(buyer, ten_seats, seat_ids(ten_seats)[:1])  # taken: nothing recorded
        assert refused.status_code == 409
        assert get_redis().hget(QueueKeys(ten_seats.pk).control, "holds") == "1"

    def test_the_line_is_admitted_as_far_as_the_seats_go(self, ten_seats, settings):
        settings.QUEUE_MAX_ACTIVE = 0
        waiters = [buyer_client() for _ in range(8)]
        for waiter in waiters:
            enter(waiter, ten_seats)
        settings.QUEUE_MAX_ACTIVE = 8
        self.holds_of_two_seats(ten_seats, 90)  # a mean of (180 + 10) / (90 + 10) = 1.9 seats
        # 10 free seats serve 6 buyers of 1.9 seats (the last may take fewer), and one more in case one
        # of them cannot use what is left: the last waits, though there is room for 8.
        assert (admit(ten_seats).admitted, admit(ten_seats).admitted) == (7, 0)
        # One admitted buyer leaves without holding: that place goes to the next in line.
        services.end_access(user_id=waiters[0].user.pk, concert_date_id=ten_seats.pk)
        assert admit(ten_seats).admitted == 1
        assert poll(waiters[7], ten_seats).json()["status"] == "READY"

    def test_an_entrant_is_admitted_at_once_only_while_the_seats_go_round(self, ten_seats):
        self.holds_of_two_seats(ten_seats, 90)  # a mean of 1.9 seats: 10 seats serve 6 buyers, and one more
        answers = [enter(buyer_client(), ten_seats).json()["status"] for _ in range(8)]
        assert answers == ["READY"] * 7 + ["WAITING"]


class TestSeatsComeBack:
    def test_an_expired_hold_reopens_the_line_in_its_old_order(self, line, small_date, settings, effects):
        admitted, first, second = line
        hold_both(admitted, small_date, effects)
        assert poll(first, small_date).json()["status"] == "WAITING"
        services.end_access(user_id=admitted.user.pk, concert_date_id=small_date.pk)  # a place is free
        assert admit(small_date).admitted == 0  # but no seat
        later = timezone.now() + dt.timedelta(seconds=settings.HOLD_TTL_SECONDS + 1)
        with effects():
            assert reservations.release_expired_holds(now=later) == 1
        assert admit(small_date).admitted == 1  # QUEUE_MAX_ACTIVE = 1: the head of the line
        assert poll(first, small_date).json()["status"] == "READY"
        answer = poll(second, small_date).json()
        assert (answer["status"], answer["position"], answer["seats_available"]) == ("WAITING", 1, 2)

    def test_a_refund_reopens_a_sold_out_line_and_silent_waiters_keep_their_places(
        self, line, small_date, settings, effects, clock
    ):
        admitted, first, second = line
        reservation_id = hold_both(admitted, small_date, effects)
        pay(admitted, reservation_id, effects)
        assert poll(first, small_date).json()["status"] == "SOLD_OUT"
        # Told to stop asking, the waiters go quiet for longer than the heartbeat allows.
        clock.advance(settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS + 60)
        assert (admit(small_date).pruned_waiters, get_redis().zcard(QueueKeys(small_date.pk).waiting)) == (0, 2)
        with effects():
            assert admitted.post(f"/api/reservations/{reservation_id}/cancel").json()["status"] == "CANCELLED"
        # Reopened: nobody was dropped. Silent since they were told, both are late for their polls: passed
        # over with their numbers, each let in when it checks again while there is room, else back in line.
        run = admit(small_date)
        assert (run.admitted, run.passed_over, run.parked) == (0, 2, 2)
        assert poll(first, small_date).json()["status"] == "READY"
        assert enter(second, small_date).json()["position"] == 1
        # The grace ends a heartbeat timeout after the date was last seen sold out.
        keys = QueueKeys(small_date.pk)
        clock.advance(settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS + 1)
        get_redis().zadd(keys.active, {str(first.user.pk): 0})  # the first buyer's place has ended
        assert admit(small_date).pruned_waiters == 1

    def test_staff_adding_seats_reopen_the_line(self, line, small_date, effects):
        from apps.concerts import services as catalogue
        from apps.concerts.models import Seat

        admitted, first, second = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        assert poll(second, small_date).json()["status"] == "SOLD_OUT"
        seat = Seat.objects.filter(concert_date=small_date).first()
        Seat.objects.create(
            concert_date=small_date, venue_id=seat.venue_id, seat_num=3, section=seat.section, row=seat.row,
            price=seat.price,
        )  # fmt: skip
        with effects():
            catalogue.recount_inventory(concert_date_id=small_date.pk)  # seats written in bulk are recounted
        answer = poll(second, small_date).json()
        assert (answer["status"], answer["position"], answer["seats_available"]) == ("WAITING", 2, 1)
        assert admit(small_date).admitted == 1
        assert poll(first, small_date).json()["status"] == "READY"


class TestMissingCounts:
    def test_a_poll_rebuilds_missing_counts_and_answers_right(self, line, small_date, effects):
        admitted, first, _ = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        forget_seat_counts(concert_date_id=small_date.pk)
        answer = poll(first, small_date).json()
        assert (answer["status"], answer["seats_available"], answer["seats_held"]) == ("SOLD_OUT", 0, 0)
        assert get_redis().hmget(counts_key(small_date.pk), "available", "held") == ["0", "0"]

    def test_an_entry_without_counts_rebuilds_them_and_places_nobody_when_sold_out(self, line, small_date, effects):
        admitted, _, _ = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        forget_seat_counts(concert_date_id=small_date.pk)
        newcomer = buyer_client()
        assert_error(enter(newcomer, small_date), 409, "SOLD_OUT")
        assert get_redis().zscore(QueueKeys(small_date.pk).waiting, str(newcomer.user.pk)) is None
        assert get_redis().zcard(QueueKeys(small_date.pk).waiting) == 2

    def test_an_admission_run_rebuilds_missing_counts(self, line, small_date, effects):
        admitted, _, _ = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        forget_seat_counts(concert_date_id=small_date.pk)
        assert admit(small_date).admitted == 0
        assert get_redis().exists(counts_key(small_date.pk))

    def test_an_entry_without_counts_is_still_admitted_at_once_while_seats_are_free(self, small_date, user):
        forget_seat_counts(concert_date_id=small_date.pk)
        answer = enter(login_client(user), small_date).json()
        assert (answer["status"], answer["seats_available"], answer["seats_held"]) == ("READY", 2, 0)


class TestOneRoundTrip:
    def test_a_sold_out_poll_is_one_round_trip_without_the_database(
        self, line, small_date, effects, round_trips, django_assert_num_queries
    ):
        admitted, first, _ = line
        pay(admitted, hold_both(admitted, small_date, effects), effects)
        poll(first, small_date)
        round_trips.clear()
        with django_assert_num_queries(0):
            assert poll(first, small_date).json()["status"] == "SOLD_OUT"
        assert len(round_trips) == 1

    def test_missing_counts_cost_one_rebuild(self, line, small_date, round_trips, django_assert_num_queries):
        _, first, _ = line
        poll(first, small_date)
        forget_seat_counts(concert_date_id=small_date.pk)
        round_trips.clear()
        with django_assert_num_queries(2):  # the inventory's free seats and the held seats
            assert poll(first, small_date).json()["seats_available"] == 2
        # the poll, noting the counts' change count, then storing the rebuilt counts (once per
        # COUNTS_TTL_SECONDS and date)
        assert len(round_trips) == 3
