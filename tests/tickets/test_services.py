"""Issuing, voiding and checking in tickets, through the services."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.common.exceptions import ApplicationError
from apps.common.models import OutboxEvent
from apps.common.outbox import relay
from apps.payments import effects
from apps.reservations import services as reservations
from apps.tickets import services as tickets
from apps.tickets import signing
from apps.tickets.models import Ticket, TicketStatus
from tests.factories import UserFactory, make_date, seat_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(role="STAFF")


def test_paying_issues_one_valid_ticket_per_seat(paid_booking):
    date = make_date()
    ids = seat_ids(date, 3)
    reservation = paid_booking(date, ids)
    issued = Ticket.objects.filter(reservation=reservation)
    assert sorted(issued.values_list("seat_id", flat=True)) == ids
    assert set(issued.values_list("status", "concert_date_id")) == {(TicketStatus.VALID, date.pk)}


def test_the_payment_effect_run_twice_issues_the_tickets_once(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    event = OutboxEvent.objects.get(kind=effects.PAYMENT_COMPLETED, payload__reservation_id=reservation.pk)
    before = list(Ticket.objects.filter(reservation=reservation).values_list("id", "seat_id"))
    effects.payment_completed(event)
    effects.payment_completed(event)
    assert list(Ticket.objects.filter(reservation=reservation).values_list("id", "seat_id")) == before
    assert len(before) == 2


def test_the_relay_confirms_a_batch_of_payments_at_once(django_capture_on_commit_callbacks, monkeypatch):
    """Tickets for every booking of the batch in one transaction and the e-mails in one task; a booking
    cancelled before the relay gets none; the batch run again adds nothing and sends nothing."""
    from django.core import mail

    from apps.payments import services as payments
    from apps.reservations import tasks
    from tests.helpers import fund

    date = make_date()
    seats = seat_ids(date, 7)
    booked = []
    for index, count in ((0, 2), (2, 1), (3, 3), (6, 1)):
        user = UserFactory()
        fund(user)
        hold = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seats[index : index + count])
        with django_capture_on_commit_callbacks(execute=True):
            payments.pay_for_reservation(user=user, reservation_id=hold.pk)
        booked.append(hold)
    cancelled = booked.pop()
    reservations.cancel_reservation(user=cancelled.user, reservation_id=cancelled.pk)
    queued = []
    real = tasks.send_reservation_confirmed_emails.apply_async
    monkeypatch.setattr(
        tasks.send_reservation_confirmed_emails, "apply_async", lambda **kw: queued.append(kw) or real(**kw)
    )
    mail.outbox.clear()

    relay()  # the holds', payments' and the cancellation's events
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"DONE"}
    assert len(queued) == 1 and len(queued[0]["kwargs"]["confirmations"]) == 4  # ... the e-mails in one task
    for reservation, count in zip(booked, (2, 1, 3), strict=True):
        assert Ticket.objects.filter(reservation=reservation, status=TicketStatus.VALID).count() == count
    assert not Ticket.objects.filter(reservation=cancelled).exists()
    confirmations = sorted(m.to[0] for m in mail.outbox if m.subject.startswith("Your tickets"))
    assert confirmations == sorted(r.user.email for r in [*booked, cancelled])

    from apps.common import outbox

    assert outbox.retry(kind=effects.PAYMENT_COMPLETED, include_done=True, event_ids=list(
        OutboxEvent.objects.filter(kind=effects.PAYMENT_COMPLETED).values_list("pk", flat=True))) == 4  # fmt: skip
    sent = len(mail.outbox)
    assert relay().done == 4
    assert len(mail.outbox) == sent and Ticket.objects.count() == 6


def test_the_tickets_of_a_reservation_whose_effect_has_not_run_are_issued_when_asked(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    Ticket.objects.filter(reservation=reservation).delete()  # as if the relay had not got to it yet
    shown = tickets.tickets_of_reservation(user=reservation.user, reservation_id=reservation.pk)
    assert [t.seat_id for t in shown] == seat_ids(date, 2)
    # The effect running late adds nothing.
    effects.payment_completed(OutboxEvent.objects.get(kind=effects.PAYMENT_COMPLETED))
    assert Ticket.objects.filter(reservation=reservation).count() == 2


def test_a_booking_cancelled_before_the_effect_runs_gets_no_tickets(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    Ticket.objects.all().delete()
    reservations.cancel_reservation(user=reservation.user, reservation_id=reservation.pk)
    assert tickets.issue_tickets(reservation_id=reservation.pk) == 0
    assert not Ticket.objects.exists()


def test_a_refund_voids_the_bookings_tickets(paid_booking, staff):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    other = paid_booking(date, seat_ids(date, 3)[2:])
    first = Ticket.objects.filter(reservation=reservation).first()
    code = signing.sign_code(ticket_id=first.pk, concert_date_id=date.pk, seat_id=first.seat_id)
    reservations.cancel_reservation(user=reservation.user, reservation_id=reservation.pk)
    assert set(Ticket.objects.filter(reservation=reservation).values_list("status", flat=True)) == {"VOID"}
    assert set(Ticket.objects.filter(reservation=other).values_list("status", flat=True)) == {"VALID"}
    with pytest.raises(ApplicationError) as raised:
        tickets.check_in(code=code, staff=staff)
    assert raised.value.code == "TICKET_VOID"


def test_a_ticket_is_checked_in_once_and_the_second_scan_says_when_the_first_was(paid_booking, staff):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    ticket = Ticket.objects.get(reservation=reservation)
    code = signing.sign_code(ticket_id=ticket.pk, concert_date_id=date.pk, seat_id=ticket.seat_id)
    entered = tickets.check_in(code=code, staff=staff)
    assert entered.status == TicketStatus.CHECKED_IN and entered.checked_in_by_id == staff.pk
    assert abs(entered.checked_in_at - timezone.now()) < dt.timedelta(minutes=1)
    with pytest.raises(ApplicationError) as raised:
        tickets.check_in(code=code, staff=staff)
    assert raised.value.code == "ALREADY_CHECKED_IN"
    assert raised.value.details == {"checked_in_at": entered.checked_in_at.isoformat().replace("+00:00", "Z")}


@pytest.mark.parametrize("change", ["ticket", "date", "seat"])
def test_a_correctly_signed_code_that_does_not_match_a_ticket_is_invalid(paid_booking, staff, change):
    """Signed with the real key, yet naming another ticket id, another date or another seat than
    the ticket has: a leaked key must not let a code in for a seat it was not issued for."""
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    ticket = Ticket.objects.filter(reservation=reservation).first()
    claim = {"ticket_id": ticket.pk, "concert_date_id": date.pk, "seat_id": ticket.seat_id}
    claim[{"ticket": "ticket_id", "date": "concert_date_id", "seat": "seat_id"}[change]] += 10_000
    with pytest.raises(tickets.InvalidTicket):
        tickets.check_in(code=signing.sign_code(**claim), staff=staff)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.VALID


def test_a_forged_code_is_invalid_and_changes_nothing(paid_booking, staff):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    ticket = Ticket.objects.get(reservation=reservation)
    payload = signing.payload_bytes(ticket_id=ticket.pk, concert_date_id=date.pk, seat_id=ticket.seat_id)
    forger = signing.Ed25519PrivateKey.generate()
    forged = f"{signing.b64url_encode(payload)}.{signing.b64url_encode(forger.sign(payload))}"
    with pytest.raises(tickets.InvalidTicket):
        tickets.check_in(code=forged, staff=staff)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.VALID


def test_the_relay_replaying_a_payment_event_issues_no_more_tickets(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    OutboxEvent.objects.filter(kind=effects.PAYMENT_COMPLETED).update(status="PENDING", available_at=timezone.now())
    relay()
    assert Ticket.objects.filter(reservation=reservation).count() == 2
