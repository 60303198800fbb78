"""Tickets in a real browser: the buyer's QR codes under "My reservations" (and their print layout, one
ticket per page), and the staff door at /checkin/ answering green, amber and red. Screenshots 13-16."""

import re

import pytest

from apps.accounts import services as accounts
from apps.common import outbox
from apps.payments import services as payments
from apps.reservations import services as reservations
from apps.tickets.models import Ticket
from apps.tickets.selectors import code_of
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.web.browser import expect, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


def paid_booking(date, user, count):
    accounts.charge(user=user, amount=date.seats.first().price * count)
    free = date.seats.filter(section="Floor", reservation_items__isnull=True).order_by("seat_num")[:count]
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=[s.pk for s in free])
    payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
    outbox.relay()  # the payment's effect issues the tickets
    return reservation


def test_the_buyer_sees_and_prints_the_tickets_qr_codes(new_page, live_server, hall_date):
    buyer = UserFactory()
    reservation = paid_booking(hall_date, buyer, 2)
    tickets = list(Ticket.objects.filter(reservation=reservation).order_by("seat__seat_num"))
    assert len(tickets) == 2
    page = new_page()
    log_in(page, live_server.url, buyer.email)
    page.goto(f"{live_server.url}/#/reservations")

    cards = page.locator("#tickets article.ticket")
    expect(cards).to_have_count(2)
    for card, ticket in zip(cards.all(), tickets, strict=True):
        expect(card.locator(".qr svg")).to_be_visible()
        expect(card.locator(".qr svg title")).to_have_text(f"Ticket {ticket.pk}")
        expect(card.locator(".ticket-code")).to_have_text(code_of(ticket))
        expect(card).to_contain_text(f"Floor {ticket.seat.row}-{ticket.seat.seat_num}")
    box = cards.first.locator(".qr svg").bounding_box()
    assert box["width"] >= 150 and box["height"] >= 150, box  # large enough to scan from a phone
    shot(page, "13-tickets")

    # Printed: the tickets alone, each on its own page.
    page.emulate_media(media="print")
    expect(page.locator("main > .card table")).to_be_hidden()
    expect(page.get_by_role("button", name="Print tickets")).to_be_hidden()
    breaks = cards.evaluate_all("cards => cards.map(c => getComputedStyle(c).breakAfter)")
    assert breaks == ["page", "auto"], breaks
    shot(page, "14-tickets-print")


def test_staff_check_tickets_in_at_the_door(new_page, live_server, hall_date):
    buyer = UserFactory()
    kept = paid_booking(hall_date, buyer, 1)
    refunded = paid_booking(hall_date, buyer, 1)
    reservations.cancel_reservation(user=buyer, reservation_id=refunded.pk)
    valid_code = code_of(Ticket.objects.get(reservation=kept))
    void_code = code_of(Ticket.objects.get(reservation=refunded))
    staff = UserFactory(role="STAFF")

    page = new_page(800, 900)
    page.goto(f"{live_server.url}/checkin/")
    page.get_by_label("E-mail").fill(staff.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("Ready")
    # Headless Chromium on Linux has no BarcodeDetector: the page says so and offers the text box.
    expect(page.locator("#camera-state")).to_contain_text("type or paste the code")

    def scan(code):
        page.get_by_label("Ticket code").fill(code)
        page.get_by_label("Ticket code").press("Enter")

    scan(valid_code)
    expect(verdict).to_have_class(re.compile(r"\bgreen\b"))
    expect(verdict).to_contain_text("Welcome in")
    shot(page, "15-checkin-green", full_page=False)
    scan(valid_code)
    expect(verdict).to_have_class(re.compile(r"\bamber\b"))
    expect(verdict).to_contain_text("Already in")
    expect(verdict).to_contain_text("Checked in at")
    shot(page, "16-checkin-amber", full_page=False)
    scan(void_code)
    expect(verdict).to_have_class(re.compile(r"\bred\b"))
    expect(verdict).to_contain_text("Void ticket")
    scan(valid_code[:-4] + "AAAA")
    expect(verdict).to_contain_text("Not a valid ticket")
    shot(page, "17-checkin-red", full_page=False)
    assert Ticket.objects.get(reservation=kept).checked_in_by_id == staff.pk


def test_a_buyer_cannot_use_the_door(new_page, live_server, hall_date):
    buyer = UserFactory()
    page = new_page()
    page.goto(f"{live_server.url}/checkin/")
    page.get_by_label("E-mail").fill(buyer.email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#notice")).to_contain_text("Only staff accounts")
    expect(page.get_by_label("Ticket code")).to_have_count(0)
