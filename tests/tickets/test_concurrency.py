"""The door under real races on MariaDB: threads on a barrier, real row locks, real commits."""

import pytest

from apps.common import outbox
from apps.payments import services as payments
from apps.reservations import services as reservations
from apps.tickets import selectors, services
from apps.tickets.models import Ticket, TicketStatus
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import error_codes, fund, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def paid(date, ids):
    user = UserFactory()
    fund(user)
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=ids)
    payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
    outbox.relay()  # the payment's effect issues its tickets
    return reservation


def test_ten_doors_scanning_one_ticket_at_once_let_it_in_once():
    """One 200; nine ALREADY_CHECKED_IN, each naming the winner's check-in time. Without the
    `status = 'VALID'` condition on the UPDATE every door lets the ticket in."""
    date = make_date()
    reservation = paid(date, seat_ids(date, 1))
    ticket = Ticket.objects.get(reservation=reservation)
    code = selectors.code_of(ticket)
    doors = UserFactory.create_batch(10, role="STAFF")
    results = run_in_threads(10, lambda i: services.check_in(code=code, staff=doors[i]))
    entered = [r for r in results if isinstance(r, Ticket)]
    assert len(entered) == 1, results
    assert error_codes(results) == ["ALREADY_CHECKED_IN"] * 9
    first_scan = entered[0].checked_in_at.isoformat().replace("+00:00", "Z")
    assert {r.details["checked_in_at"] for r in results if isinstance(r, Exception)} == {first_scan}
    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.status == TicketStatus.CHECKED_IN
    assert (stored.checked_in_at, stored.checked_in_by_id) == (entered[0].checked_in_at, entered[0].checked_in_by_id)


def test_tickets_issued_by_many_at_once_are_issued_once():
    """The payment's effect, a replay of it and the buyer's page all issuing at the same moment."""
    date = make_date()
    reservation = paid(date, seat_ids(date, 4))
    Ticket.objects.all().delete()  # as if the effect had not run yet
    results = run_in_threads(8, lambda i: services.issue_tickets(reservation_id=reservation.pk))
    assert not error_codes(results), results
    assert sum(results) == 4
    assert sorted(Ticket.objects.values_list("seat_id", flat=True)) == seat_ids(date, 4)


def test_a_refund_racing_the_issue_leaves_no_valid_ticket():
    """Issuing and cancelling both lock the reservation first: either the tickets come first and the
    refund voids them, or the refund comes first and none are issued. Never a valid ticket for a
    refunded booking."""
    date = make_date()
    bookings = [paid(date, [seat]) for seat in seat_ids(date, 6)]
    Ticket.objects.all().delete()

    def act(i):
        booking = bookings[i // 2]
        if i % 2:
            return reservations.cancel_reservation(user=booking.user, reservation_id=booking.pk)
        return services.issue_tickets(reservation_id=booking.pk)

    results = run_in_threads(12, act)
    assert not error_codes(results), results
    assert not Ticket.objects.filter(status=TicketStatus.VALID).exists()
