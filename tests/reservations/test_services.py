import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.exceptions import ApplicationError, NotFound
from apps.concerts import choosing, seat_map
from apps.concerts.models import INVENTORY_SHARD_BLOCK, Seat
from apps.concerts.selectors import date_facts
from apps.payments.services import pay_for_reservation
from apps.reservations import services
from apps.reservations.models import Reservation, ReservationItem
from apps.reservations.services import cancel_reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import funded_user, nested_block_statements, remaining_seats, seat_statuses, without_owed

pytestmark = pytest.mark.django_db


class TestHold:
    def test_holds_every_seat_and_counts_them_off(self, concert_date, user):
        ids = seat_ids(concert_date, 3)
        reservation = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert reservation.status == "HELD"
        assert reservation.total_price == Decimal("150000.00")
        assert reservation.concert_id == concert_date.concert_id
        expected_expiry = timezone.now() + dt.timedelta(seconds=300)
        assert abs((reservation.expires_at - expected_expiry).total_seconds()) < 5
        assert seat_statuses(ids) == ["HELD"] * 3
        assert remaining_seats(concert_date) == concert_date.total_seats - 3
        assert sorted(ReservationItem.objects.values_list("live_seat_id", flat=True)) == ids

    def test_all_or_nothing_when_one_seat_is_taken(self, concert_date, user):
        ids = seat_ids(concert_date, 3)
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=[ids[1]])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert exc.value.code == "SEAT_UNAVAILABLE"
        assert exc.value.details == {"seat_ids": [ids[1]]}
        assert seat_statuses(ids) == ["AVAILABLE", "HELD", "AVAILABLE"]
        assert remaining_seats(concert_date) == concert_date.total_seats - 1
        assert Reservation.objects.filter(user=user).count() == 0

    def test_seat_of_another_date_or_unknown_is_not_found(self, concert_date, user):
        other = make_date()
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[seat_ids(other, 1)[0]])
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[10**12])
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=10**12, seat_ids=seat_ids(concert_date, 1))
        assert remaining_seats(other) == other.total_seats

    @pytest.mark.parametrize("seats", ["empty", "dupes", "too-many"])
    def test_bad_seat_lists_are_validation_errors(self, concert_date, user, seats):
        ids = seat_ids(concert_date)
        seats = {"empty": [], "dupes": [ids[0], ids[0]], "too-many": ids[:5]}[seats]
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seats)
        assert exc.value.code == "VALIDATION_ERROR"

    def test_closed_or_past_dates_cannot_be_booked(self, user):
        for date in (make_date(booking_open=False), make_date(starts_in=-dt.timedelta(hours=1))):
            with pytest.raises(ApplicationError) as exc:
                services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
            assert exc.value.code == "BOOKING_CLOSED"

    def test_seats_per_buyer_per_date_are_capped_across_holds_and_paid_bookings(self, concert_date, settings):
        settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 5
        settings.MAX_SEATS_PER_BUYER_PER_DATE = 5
        user = funded_user()
        ids = seat_ids(concert_date)
        paid = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[0:2])
        pay_for_reservation(user=user, reservation_id=paid.pk)
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[2:4])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[4:6])
        assert (exc.value.code, exc.value.details) == ("HOLD_LIMIT_REACHED", {"seats_of_date": 4, "max": 5})
        assert seat_statuses(ids[4:6]) == ["AVAILABLE", "AVAILABLE"]
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[4:5])  # exactly the cap
        # Another buyer and another date are not affected.
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=ids[6:10])
        other = make_date()
        services.hold_seats(user=user, concert_date_id=other.pk, seat_ids=seat_ids(other, 4))
        call_command("check_invariants")

    def test_ended_reservations_give_their_seats_back_to_the_cap(self, concert_date, settings):
        settings.MAX_SEATS_PER_BUYER_PER_DATE = 4
        user = funded_user()
        ids = seat_ids(concert_date)
        cancelled = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[0:2])
        cancel_reservation(user=user, reservation_id=cancelled.pk)
        expired = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[2:4])
        Reservation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        # An expired hold counts for nothing even before the sweep releases it.
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[4:8])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[8:9])
        assert exc.value.code == "HOLD_LIMIT_REACHED"

    def test_live_holds_per_user_per_date_are_capped(self, concert_date, user, settings):
        settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 2
        ids = seat_ids(concert_date)
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[0]])
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[1]])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[2]])
        assert exc.value.code == "HOLD_LIMIT_REACHED"
        # Another date is not affected.
        other = make_date()
        services.hold_seats(user=user, concert_date_id=other.pk, seat_ids=seat_ids(other, 1))

    def test_a_seat_whose_hold_expired_can_be_held_before_the_sweep(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        first = services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=ids)
        Reservation.objects.filter(pk=first.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        Seat.objects.filter(pk__in=ids).update(held_until=timezone.now() - dt.timedelta(seconds=1))
        second = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        first.refresh_from_db()
        assert first.status == "EXPIRED"
        assert second.status == "HELD"
        assert remaining_seats(concert_date) == concert_date.total_seats - 2
        call_command("check_invariants")

    @pytest.mark.skipif(connection.vendor != "mysql", reason="the hold procedure is MariaDB's")
    def test_a_hold_is_one_call_of_the_hold_procedure(self, concert_date, user, django_assert_num_queries):
        ids = seat_ids(concert_date)
        date_facts(concert_date.pk)
        status = seat_map.seat_status(concert_date_id=concert_date.pk)
        choosing.seat_plan(concert_date_id=concert_date.pk, layout_version=status.layout_version)
        with django_assert_num_queries(1 + nested_block_statements()) as queries:  # in the test's transaction
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[:4])
        assert without_owed(queries.captured_queries[0]["sql"]).startswith("CALL reservations_hold(")

    @pytest.mark.skipif(connection.vendor != "mysql", reason="SQLite runs a batch statement by statement")
    def test_without_the_procedure_a_hold_is_three_round_trips_of_statements(
        self, concert_date, user, django_assert_num_queries, settings
    ):
        settings.HOLD_PROCEDURE = False
        # user lock reading taken seats and shard versions; seat lock reading the user's live holds
        # and seats of the date; one batch: seat update, one shard update (4 adjacent seats from a
        # block start share a shard), the seat-map outbox event, reservation, items
        ids = seat_ids(concert_date)
        start = next(i for i, seat in enumerate(ids) if seat % INVENTORY_SHARD_BLOCK == 0)
        date_facts(concert_date.pk)  # cached per process (DATE_FACTS_TTL_SECONDS), as on a live server
        # The seat map that every buyer's page reads, kept per version: the hold reads it first.
        status = seat_map.seat_status(concert_date_id=concert_date.pk)
        choosing.seat_plan(concert_date_id=concert_date.pk, layout_version=status.layout_version)
        with django_assert_num_queries(3 + nested_block_statements()):  # in the test's transaction
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids[start : start + 4])

    def test_a_refused_hot_seat_hold_is_one_statement(self, concert_date, user, django_assert_num_queries):
        # the user lock reading the preview, which names the taken seats: no seat is locked
        ids = seat_ids(concert_date, 2)
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=ids[1:])
        date_facts(concert_date.pk)
        # + the savepoint's statements in the test's transaction
        with django_assert_num_queries(1 + nested_block_statements(rolled_back=True)), pytest.raises(ApplicationError):
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)

    def test_a_taken_seat_is_refused_without_locking_any_seat(self, concert_date, user, settings):
        settings.HOLD_PROCEDURE = False  # the procedure's refusal: tests/reservations/test_hold_procedure.py
        ids = seat_ids(concert_date, 2)
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=ids[1:])
        with CaptureQueriesContext(connection) as queries, pytest.raises(ApplicationError) as caught:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert (caught.value.code, caught.value.details) == ("SEAT_UNAVAILABLE", {"seat_ids": ids[1:]})
        locks = [without_owed(q["sql"]) for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
        assert len(locks) == 1 and locks[0].startswith("SELECT `users`")  # the user row, no seat
        assert seat_statuses(ids) == ["AVAILABLE", "HELD"]


class TestExpiry:
    def test_sweep_releases_expired_holds_once(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        expired = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        live = services.hold_seats(
            user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date)[5:6]
        )
        Reservation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert services.release_expired_holds() == 1
        assert services.release_expired_holds() == 0
        expired.refresh_from_db()
        live.refresh_from_db()
        assert (expired.status, live.status) == ("EXPIRED", "HELD")
        assert seat_statuses(ids) == ["AVAILABLE", "AVAILABLE"]
        assert remaining_seats(concert_date) == concert_date.total_seats - 1
        assert not ReservationItem.objects.filter(reservation=expired, live_seat__isnull=False).exists()
        call_command("check_invariants")

    def test_sweep_works_in_batches(self, concert_date, settings):
        ids = seat_ids(concert_date)
        for seat in ids[:6]:
            services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=[seat])
        Reservation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert services.release_expired_holds(batch_size=4) == 6
        assert remaining_seats(concert_date) == concert_date.total_seats

    def test_an_expired_hold_reads_as_expired_before_the_sweep(self, concert_date, user):
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        reservation.expires_at = timezone.now() - dt.timedelta(seconds=1)
        assert reservation.effective_status() == "EXPIRED"


class TestLiveSeatClaim:
    def test_the_database_refuses_a_second_live_claim_on_a_seat(self, concert_date, user):
        from django.db import IntegrityError, transaction

        seat = seat_ids(concert_date, 1)
        first = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat)
        with pytest.raises(IntegrityError), transaction.atomic():
            ReservationItem.objects.create(
                reservation=first, seat_id=seat_ids(concert_date, 2)[1], live_seat_id=seat[0], price=0
            )
        other = Reservation.objects.create(
            user=user,
            concert_id=first.concert_id,
            concert_date=concert_date,
            total_price=0,
            expires_at=first.expires_at,
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            ReservationItem.objects.create(reservation=other, seat_id=seat[0], live_seat_id=seat[0], price=0)
