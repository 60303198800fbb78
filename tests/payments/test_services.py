import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.models import WalletTransaction
from apps.common import outbox
from apps.common.exceptions import ApplicationError, NotFound
from apps.concerts.models import ConcertDate
from apps.concerts.selectors import forget_dates
from apps.payments import services as payments
from apps.payments.models import Payment
from apps.queue import services as queue
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import fund, nested_block_statements, redis_unreachable, remaining_seats, seat_statuses

pytestmark = pytest.mark.django_db


class TestCancel:
    def test_cancelling_a_hold_frees_its_seats(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        reservation = reservations.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        cancelled = reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert cancelled.status == "CANCELLED"
        assert seat_statuses(ids) == ["AVAILABLE", "AVAILABLE"]
        assert remaining_seats(concert_date) == concert_date.total_seats
        with pytest.raises(ApplicationError) as exc:
            reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert exc.value.code == "INVALID_STATE"

    def test_another_users_reservation_is_not_found(self, concert_date, user):
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(NotFound):
            reservations.cancel_reservation(user=UserFactory(), reservation_id=reservation.pk)
        reservation.refresh_from_db()
        assert reservation.status == "HELD"

    def test_cancelling_a_booking_refunds_it(self, concert_date, user, django_capture_on_commit_callbacks):
        fund(user, "100000.00")
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2)
        )
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        with django_capture_on_commit_callbacks(execute=True):
            reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        user.refresh_from_db()
        assert user.balance == Decimal("100000.00")
        refund = WalletTransaction.objects.get(kind="REFUND")
        assert (refund.amount, refund.reference) == (Decimal("100000.00"), f"reservation:{reservation.pk}")
        assert Payment.objects.get().status == "REFUNDED"
        assert remaining_seats(concert_date) == concert_date.total_seats
        assert any("Refund" in message.subject for message in mail.outbox)
        call_command("check_invariants")

    def test_no_refund_inside_the_cutoff(self, user, settings):
        settings.REFUND_CUTOFF_HOURS = 24
        date = make_date(starts_in=dt.timedelta(hours=2))
        fund(user)
        reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        balance_before = type(user).objects.get(pk=user.pk).balance
        with pytest.raises(ApplicationError) as exc:
            reservations.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert exc.value.code == "INVALID_STATE"
        assert type(user).objects.get(pk=user.pk).balance == balance_before
        reservation.refresh_from_db()
        assert reservation.status == "CONFIRMED"


class TestPay:
    def test_payment_confirms_debits_and_reserves(self, concert_date, user, django_capture_on_commit_callbacks):
        fund(user, "200000.00")
        ids = seat_ids(concert_date, 2)
        reservation = reservations.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        with django_capture_on_commit_callbacks(execute=True):
            payment, balance = payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert (payment.amount, payment.status, balance) == (Decimal("100000.00"), "PAID", Decimal("100000.00"))
        reservation.refresh_from_db()
        assert reservation.status == "CONFIRMED" and reservation.reserved_at is not None
        assert seat_statuses(ids) == ["RESERVED", "RESERVED"]
        assert remaining_seats(concert_date) == concert_date.total_seats - 2
        debit = WalletTransaction.objects.get(kind="PAYMENT")
        assert (debit.amount, debit.reference) == (Decimal("-100000.00"), f"reservation:{reservation.pk}")
        outbox.relay()  # the confirmation e-mail is queued by the relay, not by the request
        assert any("Your tickets" in message.subject for message in mail.outbox)
        call_command("check_invariants")

    def test_insufficient_balance_changes_nothing(self, concert_date, user):
        fund(user, "10.00")
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert exc.value.code == "INSUFFICIENT_BALANCE"
        reservation.refresh_from_db()
        assert reservation.status == "HELD"
        assert not Payment.objects.exists()
        assert type(user).objects.get(pk=user.pk).balance == Decimal("10.00")

    def test_expired_hold_cannot_be_paid(self, concert_date, user):
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert exc.value.code == "HOLD_EXPIRED"
        assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 0

    def test_a_hold_cannot_be_paid_once_the_show_has_started(self, concert_date, user):
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        ConcertDate.objects.filter(pk=concert_date.pk).update(starts_at=timezone.now() - dt.timedelta(minutes=1))
        forget_dates()
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert (exc.value.status_code, exc.value.code) == (409, "BOOKING_CLOSED")
        reservation.refresh_from_db()
        assert reservation.status == "HELD" and not Payment.objects.exists()
        assert seat_statuses(seat_ids(concert_date, 1)) == ["HELD"]
        assert type(user).objects.get(pk=user.pk).balance == Decimal("1000000.00")

    @pytest.mark.skipif(connection.vendor != "mysql", reason="SQLite runs a batch statement by statement")
    def test_a_payment_is_two_round_trips_of_statements(self, concert_date, user, django_assert_num_queries):
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2)
        )
        # the reservation lock reading its seat ids and the wallet lock; one batch: balance, ledger,
        # payment, the seats flipped, the reservation confirmed, two outbox events (seat map,
        # confirmation); and the savepoint's statements in the test's transaction
        with django_assert_num_queries(2 + nested_block_statements()):
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        call_command("check_invariants")

    def test_paying_twice_is_invalid_state(self, concert_date, user):
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert exc.value.code == "INVALID_STATE"
        assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 1

    def test_another_users_reservation_is_not_found(self, concert_date, user):
        other = UserFactory()
        fund(other)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(NotFound):
            payments.pay_for_reservation(user=other, reservation_id=reservation.pk)

    def test_free_seats_confirm_without_a_debit(self, user):
        date = make_date(layout=[{"name": "Free", "rows": 1, "seats_per_row": 2, "price": "0"}])
        reservation = reservations.hold_seats(
            user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1, section="Free")
        )
        payment, balance = payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert (payment.amount, balance) == (Decimal("0.00"), Decimal("0.00"))
        assert not WalletTransaction.objects.exists()
        call_command("check_invariants")

    def test_a_payment_ends_queue_access_to_that_date_only(
        self, concert_date, user, django_capture_on_commit_callbacks
    ):
        other_date = make_date()
        for date in (concert_date, other_date):
            queue.issue_access_token(user_id=user.pk, concert_date_id=date.pk)
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert not queue.end_access(user_id=user.pk, concert_date_id=concert_date.pk)  # ended already
        assert queue.end_access(user_id=user.pk, concert_date_id=other_date.pk)  # untouched

    def test_redis_down_after_commit_does_not_fail_the_payment(
        self, concert_date, user, django_capture_on_commit_callbacks
    ):
        fund(user)
        reservation = reservations.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with redis_unreachable(), django_capture_on_commit_callbacks(execute=True):
            payment, _ = payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert Payment.objects.get().pk == payment.pk
        reservation.refresh_from_db()
        assert reservation.status == "CONFIRMED"
