"""Best available (the server chooses the seats) and the stored status's first word on named seats:
the service's rules, and the contract of POST /api/reservations with `quantity`.

The test date (tests/factories.LAYOUT): VIP row A, seats 1-4; Floor rows A (5-12) and B (13-20)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.common import metrics
from apps.common.exceptions import ApplicationError
from apps.concerts import seat_map
from apps.concerts.models import Seat
from apps.concerts.selectors import date_facts
from apps.reservations import services
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import (
    assert_error,
    login_client,
    mark_held,
    redis_unreachable,
    remaining_seats,
    seat_statuses,
)

pytestmark = pytest.mark.django_db


def seat_nums(reservation: Reservation) -> list[int]:
    return sorted(item.seat.seat_num for item in reservation.items.all())


def best(user, date, quantity: int, **options) -> Reservation:
    return services.hold_best_available(user=user, concert_date_id=date.pk, quantity=quantity, **options)


def hold_and_publish(date, ids: list[int], django_capture_on_commit_callbacks) -> None:
    """Another buyer holds `ids`, and the seat map hears of it (the after-commit bump runs)."""
    with django_capture_on_commit_callbacks(execute=True):
        services.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids)


class TestChoosing:
    def test_the_first_section_and_row_in_layout_order_without_a_stranded_seat(self, concert_date, user):
        # VIP row A has 4 seats: its centre pair (2-3) would strand seats 1 and 4, so 1-2.
        reservation = best(user, concert_date, 2)
        assert seat_nums(reservation) == [1, 2]
        assert reservation.status == "HELD" and remaining_seats(concert_date) == concert_date.total_seats - 2

    def test_a_section_and_its_centre(self, concert_date, user):
        assert seat_nums(best(user, concert_date, 3, section="Floor")) == [7, 8, 9]  # row A's 3-5 of 8

    def test_seats_the_status_shows_taken_are_passed_over(self, concert_date, user, django_capture_on_commit_callbacks):
        floor = seat_ids(concert_date)
        hold_and_publish(concert_date, floor[2:6], django_capture_on_commit_callbacks)  # Floor A 3-6
        # Row A keeps 1-2 and 7-8: the first pair nearest the centre is 1-2 (as near as 7-8).
        assert seat_nums(best(user, concert_date, 2, section="Floor")) == [5, 6]
        assert seat_nums(best(UserFactory(), concert_date, 3, section="Floor")) == [15, 16, 17]  # row B

    def test_not_together_takes_the_nearest_free_seats_of_one_section(
        self, concert_date, user, django_capture_on_commit_callbacks
    ):
        vip = seat_ids(concert_date, section="VIP")
        hold_and_publish(concert_date, [vip[1]], django_capture_on_commit_callbacks)
        with pytest.raises(ApplicationError) as refused:
            best(user, concert_date, 3, section="VIP")
        assert refused.value.code == "NOT_ENOUGH_SEATS"
        assert refused.value.details == {"section": "VIP", "quantity": 3, "available": 3, "largest_together": 2}
        assert seat_nums(best(user, concert_date, 3, section="VIP", together=False)) == [1, 3, 4]

    def test_not_enough_seats_names_what_is_left(self, concert_date, user, django_capture_on_commit_callbacks):
        hold_and_publish(concert_date, seat_ids(concert_date, section="VIP")[:3], django_capture_on_commit_callbacks)
        with pytest.raises(ApplicationError) as refused:
            best(user, concert_date, 2, section="VIP")
        assert (refused.value.code, refused.value.status_code) == ("NOT_ENOUGH_SEATS", 409)
        assert refused.value.details == {"section": "VIP", "quantity": 2, "available": 1, "largest_together": 1}
        assert not Reservation.objects.filter(user=user).exists()

    def test_an_unknown_section_or_quantity_is_a_validation_error(self, concert_date, user):
        with pytest.raises(ApplicationError) as refused:
            best(user, concert_date, 1, section="Balcony")
        assert refused.value.code == "VALIDATION_ERROR" and "section" in refused.value.details
        for quantity in (0, 5):
            with pytest.raises(ApplicationError) as refused:
                best(user, concert_date, quantity)
            assert refused.value.code == "VALIDATION_ERROR"

    def test_a_closed_date_is_refused(self, user):
        closed = make_date(booking_open=False)
        with pytest.raises(ApplicationError) as refused:
            best(user, closed, 1)
        assert refused.value.code == "BOOKING_CLOSED"


class TestChoosingAgain:
    def test_a_seat_taken_after_the_status_was_read_makes_it_choose_again(self, concert_date, user):
        floor = seat_ids(concert_date)
        date_facts(concert_date.pk)
        seat_map.seat_status(concert_date_id=concert_date.pk)  # the status every buyer read: all free
        # Taken in the database after that read, and the map not told (its version stays): the first
        # choice (Floor A 3-5) meets the taken seats, the second avoids them.
        mark_held(concert_date, floor[3:4])
        attempts = {outcome: metrics.best_available.labels(outcome)._value.get() for outcome in ("held", "lost_race")}
        reservation = best(user, concert_date, 3, section="Floor")
        assert metrics.best_available.labels("lost_race")._value.get() == attempts["lost_race"] + 1
        assert metrics.best_available.labels("held")._value.get() == attempts["held"] + 1
        nums = seat_nums(reservation)
        assert 8 not in nums and len(nums) == 3 and nums == list(range(nums[0], nums[0] + 3))
        assert seat_statuses(floor[3:4]) == ["HELD"]

    def test_a_hold_that_expired_unswept_is_released_and_its_seats_chosen(self, concert_date, user):
        vip = seat_ids(concert_date, section="VIP")
        first = services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=vip[:2])
        past = first.expires_at.replace(year=2000)
        Reservation.objects.filter(pk=first.pk).update(expires_at=past)
        Seat.objects.filter(pk__in=vip[:2]).update(held_until=past)
        # The status reads the seats free from the moment the hold ended; the database still says HELD.
        assert seat_nums(best(user, concert_date, 2)) == [1, 2]
        first.refresh_from_db()
        assert first.status == "EXPIRED"

    def test_never_answers_seat_unavailable(self, concert_date, user):
        vip = seat_ids(concert_date, section="VIP")
        seat_map.seat_status(concert_date_id=concert_date.pk)
        mark_held(concert_date, vip)  # unknown to the map: every VIP choice meets a taken seat
        with pytest.raises(ApplicationError) as refused:
            best(user, concert_date, 2, section="VIP")
        assert refused.value.code == "NOT_ENOUGH_SEATS"
        assert refused.value.details["available"] == 0


class TestNamedSeatsReadTheStatusFirst:
    def test_a_seat_the_status_shows_taken_is_refused_without_a_database_statement(
        self, concert_date, user, django_capture_on_commit_callbacks
    ):
        ids = seat_ids(concert_date, 3)
        hold_and_publish(concert_date, ids[1:2], django_capture_on_commit_callbacks)
        date_facts(concert_date.pk)  # as on a live server: kept per process
        seat_map.seat_status(concert_date_id=concert_date.pk)  # and the status every page reads
        with CaptureQueriesContext(connection) as queries, pytest.raises(ApplicationError) as refused:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert (refused.value.code, refused.value.details) == ("SEAT_UNAVAILABLE", {"seat_ids": ids[1:2]})
        assert queries.captured_queries == []

    def test_a_stale_status_never_lets_a_taken_seat_through(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        seat_map.seat_status(concert_date_id=concert_date.pk)  # all free
        mark_held(concert_date, ids[1:])  # the map is not told: its status still shows the seat free
        assert seat_map.seat_status(concert_date_id=concert_date.pk).codes[4:6] == "AA"
        with pytest.raises(ApplicationError) as refused:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert (refused.value.code, refused.value.details) == ("SEAT_UNAVAILABLE", {"seat_ids": ids[1:]})
        assert seat_statuses(ids) == ["AVAILABLE", "HELD"]

    def test_a_seat_the_status_shows_free_is_held_by_the_database(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        reservation = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert reservation.status == "HELD" and seat_statuses(ids) == ["HELD", "HELD"]


class TestApi:
    def post(self, client, date, **body):
        return client.post("/api/reservations", {"concert_date_id": date.pk, **body}, format="json")

    def test_best_available_answers_the_usual_201_with_together(self, buyer, concert_date):
        response = self.post(buyer, concert_date, quantity=2, section="Floor")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "HELD" and body["together"] is True
        assert [(seat["section"], seat["row"], seat["seat_num"]) for seat in body["seats"]] == [
            ("Floor", "A", 8),
            ("Floor", "A", 9),
        ]
        assert body["total_price"] == "100000.00"

    def test_together_false_may_answer_seats_apart(self, buyer, concert_date, django_capture_on_commit_callbacks):
        hold_and_publish(concert_date, seat_ids(concert_date, section="VIP")[1:2], django_capture_on_commit_callbacks)
        response = self.post(buyer, concert_date, quantity=3, section="VIP", together=False)
        assert response.status_code == 201, response.content
        assert response.json()["together"] is False

    def test_named_seats_answer_together_too(self, buyer, concert_date):
        ids = seat_ids(concert_date)
        assert self.post(buyer, concert_date, seat_ids=[ids[0], ids[2]]).json()["together"] is False

    def test_not_enough_seats_is_409_with_details(self, buyer, concert_date, django_capture_on_commit_callbacks):
        hold_and_publish(concert_date, seat_ids(concert_date, section="VIP")[:3], django_capture_on_commit_callbacks)
        error = assert_error(self.post(buyer, concert_date, quantity=2, section="VIP"), 409, "NOT_ENOUGH_SEATS")
        assert error["details"] == {"section": "VIP", "quantity": 2, "available": 1, "largest_together": 1}

    def test_a_refused_named_seat_lists_it(self, buyer, concert_date, django_capture_on_commit_callbacks):
        ids = seat_ids(concert_date, 2)
        hold_and_publish(concert_date, ids[:1], django_capture_on_commit_callbacks)
        error = assert_error(self.post(buyer, concert_date, seat_ids=ids), 409, "SEAT_UNAVAILABLE")
        assert error["details"] == {"seat_ids": ids[:1]}

    def test_a_refused_named_seat_opens_no_transaction(self, buyer, concert_date, django_capture_on_commit_callbacks):
        ids = seat_ids(concert_date, 2)
        hold_and_publish(concert_date, ids[1:], django_capture_on_commit_callbacks)
        date_facts(concert_date.pk)
        seat_map.seat_status(concert_date_id=concert_date.pk)
        with CaptureQueriesContext(connection) as queries:
            assert_error(self.post(buyer, concert_date, seat_ids=ids), 409, "SEAT_UNAVAILABLE")
        # No statement at all: the POST authenticates in process (no user row) and the seat status
        # refuses the seat before any transaction opens.
        assert queries.captured_queries == []

    @pytest.mark.parametrize(
        "body",
        [
            {},  # neither seat_ids nor quantity
            {"seat_ids": [1], "quantity": 1},  # both
            {"quantity": 0},
            {"quantity": 5},
            {"quantity": "2"},
            {"quantity": 2, "together": "yes"},
            {"quantity": 2, "section": ""},
            {"quantity": 2, "section": 7},
            {"seat_ids": [1], "section": "VIP"},
            {"seat_ids": [1], "together": False},
        ],
    )
    def test_bad_bodies_are_validation_errors(self, buyer, concert_date, body):
        assert_error(self.post(buyer, concert_date, **body), 400, "VALIDATION_ERROR")
        assert not Reservation.objects.exists()

    def test_an_unknown_section_is_400_naming_the_sections(self, buyer, concert_date):
        error = assert_error(self.post(buyer, concert_date, quantity=1, section="Balcony"), 400, "VALIDATION_ERROR")
        assert "VIP" in error["details"]["section"][0] and "Floor" in error["details"]["section"][0]

    def test_needs_the_queue_token(self, user, concert_date):
        assert_error(self.post(login_client(user), concert_date, quantity=1), 403, "QUEUE_TOKEN_REQUIRED")

    def test_redis_down_is_503_and_holds_nothing(self, buyer, concert_date):
        with redis_unreachable():
            assert_error(self.post(buyer, concert_date, quantity=2), 503, "SERVICE_UNAVAILABLE")
        assert not Reservation.objects.exists() and remaining_seats(concert_date) == concert_date.total_seats

    def test_the_status_version_comes_from_the_token_checks_round_trip(self, buyer, concert_date, monkeypatch):
        """The view reads the map's version in the queue token's Redis round trip and hands it on."""
        seen = []
        original = services.hold_best_available
        monkeypatch.setattr(services, "hold_best_available", lambda **kw: seen.append(kw) or original(**kw))
        assert self.post(buyer, concert_date, quantity=1).status_code == 201
        assert seen[0]["map_version"].version == seat_map.current_version(concert_date.pk)
