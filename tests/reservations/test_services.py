import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.accounts.models import WalletTransaction
from apps.common.exceptions import ApplicationError, NotFound
from apps.concerts.models import Inventory, Seat
from apps.payments import services as payments
from apps.payments.models import Payment
from apps.reservations import services
from apps.reservations.models import Reservation, ReservationItem
from tests.factories import UserFactory

from .conftest import fund, make_date, seat_ids

pytestmark = pytest.mark.django_db


def remaining(date) -> int:
    return Inventory.objects.get(concert_date=date).remaining


def statuses(ids) -> list[str]:
    return list(Seat.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))


def code_of(excinfo) -> str:
    return excinfo.value.code


class TestHold:
    def test_holds_every_seat_and_counts_them_off(self, concert_date, user):
        ids = seat_ids(concert_date, 3)
        reservation = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert reservation.status == "HELD"
        assert reservation.total_price == Decimal("150000.00")
        assert reservation.concert_id == concert_date.concert_id
        expected_expiry = timezone.now() + dt.timedelta(seconds=300)
        assert abs((reservation.expires_at - expected_expiry).total_seconds()) < 5
        assert statuses(ids) == ["HELD"] * 3
        assert remaining(concert_date) == concert_date.total_seats - 3
        assert sorted(ReservationItem.objects.values_list("live_seat_id", flat=True)) == ids

    def test_all_or_nothing_when_one_seat_is_taken(self, concert_date, user):
        ids = seat_ids(concert_date, 3)
        services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=[ids[1]])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        assert code_of(exc) == "SEAT_UNAVAILABLE"
        assert exc.value.details == {"seat_ids": [ids[1]]}
        assert statuses(ids) == ["AVAILABLE", "HELD", "AVAILABLE"]
        assert remaining(concert_date) == concert_date.total_seats - 1
        assert Reservation.objects.filter(user=user).count() == 0

    def test_seat_of_another_date_or_unknown_is_not_found(self, concert_date, user):
        other = make_date()
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[seat_ids(other, 1)[0]])
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[10**12])
        with pytest.raises(NotFound):
            services.hold_seats(user=user, concert_date_id=10**12, seat_ids=seat_ids(concert_date, 1))
        assert remaining(other) == other.total_seats

    @pytest.mark.parametrize("seats", ["empty", "dupes", "too-many"])
    def test_bad_seat_lists_are_validation_errors(self, concert_date, user, seats):
        ids = seat_ids(concert_date)
        seats = {"empty": [], "dupes": [ids[0], ids[0]], "too-many": ids[:5]}[seats]
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seats)
        assert code_of(exc) == "VALIDATION_ERROR"

    def test_closed_or_past_dates_cannot_be_booked(self, user):
        for date in (make_date(booking_open=False), make_date(starts_in=-dt.timedelta(hours=1))):
            with pytest.raises(ApplicationError) as exc:
                services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
            assert code_of(exc) == "BOOKING_CLOSED"

    def test_live_holds_per_user_per_date_are_capped(self, concert_date, user, settings):
        settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 2
        ids = seat_ids(concert_date)
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[0]])
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[1]])
        with pytest.raises(ApplicationError) as exc:
            services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=[ids[2]])
        assert code_of(exc) == "HOLD_LIMIT_REACHED"
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
        assert remaining(concert_date) == concert_date.total_seats - 2
        call_command("check_invariants")


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
        assert statuses(ids) == ["AVAILABLE", "AVAILABLE"]
        assert remaining(concert_date) == concert_date.total_seats - 1
        assert not ReservationItem.objects.filter(reservation=expired, live_seat__isnull=False).exists()
        call_command("check_invariants")

    def test_sweep_works_in_batches(self, concert_date, settings):
        ids = seat_ids(concert_date)
        for seat in ids[:6]:
            services.hold_seats(user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=[seat])
        Reservation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert services.release_expired_holds(batch_size=4) == 6
        assert remaining(concert_date) == concert_date.total_seats

    def test_an_expired_hold_reads_as_expired_before_the_sweep(self, concert_date, user):
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        reservation.expires_at = timezone.now() - dt.timedelta(seconds=1)
        assert reservation.effective_status() == "EXPIRED"


class TestCancel:
    def test_cancelling_a_hold_frees_its_seats(self, concert_date, user):
        ids = seat_ids(concert_date, 2)
        reservation = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        cancelled = services.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert cancelled.status == "CANCELLED"
        assert statuses(ids) == ["AVAILABLE", "AVAILABLE"]
        assert remaining(concert_date) == concert_date.total_seats
        with pytest.raises(ApplicationError) as exc:
            services.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert code_of(exc) == "INVALID_STATE"

    def test_another_users_reservation_is_not_found(self, concert_date, user):
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(NotFound):
            services.cancel_reservation(user=UserFactory(), reservation_id=reservation.pk)
        reservation.refresh_from_db()
        assert reservation.status == "HELD"

    def test_cancelling_a_booking_refunds_it(self, concert_date, user, django_capture_on_commit_callbacks):
        fund(user, "100000.00")
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 2)
        )
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.cancel_reservation(user=user, reservation_id=reservation.pk)
        user.refresh_from_db()
        assert user.balance == Decimal("100000.00")
        refund = WalletTransaction.objects.get(kind="REFUND")
        assert (refund.amount, refund.reference) == (Decimal("100000.00"), f"reservation:{reservation.pk}")
        assert Payment.objects.get().status == "REFUNDED"
        assert remaining(concert_date) == concert_date.total_seats
        assert any("Refund" in message.subject for message in mail.outbox)
        call_command("check_invariants")

    def test_no_refund_inside_the_cutoff(self, user, settings):
        settings.REFUND_CUTOFF_HOURS = 24
        date = make_date(starts_in=dt.timedelta(hours=2))
        fund(user)
        reservation = services.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        balance_before = type(user).objects.get(pk=user.pk).balance
        with pytest.raises(ApplicationError) as exc:
            services.cancel_reservation(user=user, reservation_id=reservation.pk)
        assert code_of(exc) == "INVALID_STATE"
        assert type(user).objects.get(pk=user.pk).balance == balance_before
        reservation.refresh_from_db()
        assert reservation.status == "CONFIRMED"


class TestPay:
    def test_payment_confirms_debits_and_reserves(self, concert_date, user, django_capture_on_commit_callbacks):
        fund(user, "200000.00")
        ids = seat_ids(concert_date, 2)
        reservation = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=ids)
        with django_capture_on_commit_callbacks(execute=True):
            payment, balance = payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert (payment.amount, payment.status, balance) == (Decimal("100000.00"), "PAID", Decimal("100000.00"))
        reservation.refresh_from_db()
        assert reservation.status == "CONFIRMED" and reservation.reserved_at is not None
        assert statuses(ids) == ["RESERVED", "RESERVED"]
        assert remaining(concert_date) == concert_date.total_seats - 2
        debit = WalletTransaction.objects.get(kind="PAYMENT")
        assert (debit.amount, debit.reference) == (Decimal("-100000.00"), f"reservation:{reservation.pk}")
        assert any("Your tickets" in message.subject for message in mail.outbox)
        call_command("check_invariants")

    def test_insufficient_balance_changes_nothing(self, concert_date, user):
        fund(user, "10.00")
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert code_of(exc) == "INSUFFICIENT_BALANCE"
        reservation.refresh_from_db()
        assert reservation.status == "HELD"
        assert not Payment.objects.exists()
        assert type(user).objects.get(pk=user.pk).balance == Decimal("10.00")

    def test_expired_hold_cannot_be_paid(self, concert_date, user):
        fund(user)
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        Reservation.objects.filter(pk=reservation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert code_of(exc) == "HOLD_EXPIRED"
        assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 0

    def test_paying_twice_is_invalid_state(self, concert_date, user):
        fund(user)
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        with pytest.raises(ApplicationError) as exc:
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert code_of(exc) == "INVALID_STATE"
        assert WalletTransaction.objects.filter(kind="PAYMENT").count() == 1

    def test_another_users_reservation_is_not_found(self, concert_date, user):
        other = UserFactory()
        fund(other)
        reservation = services.hold_seats(
            user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        with pytest.raises(NotFound):
            payments.pay_for_reservation(user=other, reservation_id=reservation.pk)

    def test_free_seats_confirm_without_a_debit(self, user):
        date = make_date(seats_layout=[{"name": "Free", "rows": 1, "seats_per_row": 2, "price": "0"}])
        reservation = services.hold_seats(
            user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1, section="Free")
        )
        payment, balance = payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        assert (payment.amount, balance) == (Decimal("0.00"), Decimal("0.00"))
        assert not WalletTransaction.objects.exists()
        call_command("check_invariants")


class TestCheckInvariants:
    def test_reports_a_broken_inventory_and_a_broken_wallet(self, concert_date, user, capsys):
        services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1))
        call_command("check_invariants")
        Inventory.objects.filter(concert_date=concert_date).update(remaining=concert_date.total_seats)
        type(user).objects.filter(pk=user.pk).update(balance=Decimal("5.00"))
        with pytest.raises(CommandError, match="2 invariant"):
            call_command("check_invariants")
        out = capsys.readouterr().out
        assert f"date {concert_date.pk}: inventory says" in out
        assert f"user {user.pk}: balance 5.00 but ledger sums to 0" in out

    def test_reports_a_seat_in_two_live_reservations_and_an_unreleased_hold(self, concert_date, user, capsys):
        seat = seat_ids(concert_date, 1)
        first = services.hold_seats(user=user, concert_date_id=concert_date.pk, seat_ids=seat)
        second = Reservation.objects.create(
            user=user, concert_id=first.concert_id, concert_date=concert_date, total_price=0,
            expires_at=timezone.now() - dt.timedelta(hours=1),
        )  # fmt: skip
        ReservationItem.objects.create(reservation=second, seat_id=seat[0], price=0)
        with pytest.raises(CommandError):
            call_command("check_invariants")
        out = capsys.readouterr().out
        assert f"seat {seat[0]} is in 2 live reservations" in out
        assert f"hold {second.pk} expired" in out

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
