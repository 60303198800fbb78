import re

import pytest

from apps.tickets import selectors, services
from apps.tickets.models import Ticket
from tests.factories import UserFactory, make_date, seat_ids

pytestmark = pytest.mark.django_db


def test_staff_see_entered_of_sold_per_date_and_by_section(client, paid_booking):
    layout = [
        {"name": "Floor", "rows": 1, "seats_per_row": 4, "price": "100.00"},
        {"name": "Balcony", "rows": 1, "seats_per_row": 4, "price": "50.00"},
    ]
    date = make_date(layout=layout)
    floor = paid_booking(date, seat_ids(date, 3, section="Floor"))
    paid_booking(date, seat_ids(date, 2, section="Balcony"))
    staff = UserFactory(role="STAFF")
    for ticket in Ticket.objects.filter(reservation=floor)[:2]:
        services.check_in(code=selectors.code_of(ticket), staff=staff)
    client.force_login(staff)

    page = client.get("/admin/tickets/dooroverview/")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.content.decode()))
    assert "2 / 5" in text
    assert "Balcony: 0 / 2, 0 void" in text and "Floor: 2 / 3, 0 void" in text

    listing = client.get(f"/admin/tickets/ticket/?status=CHECKED_IN&concert_date__id__exact={date.pk}")
    assert listing.status_code == 200
    assert listing.content.count(b'class="field-status"') == 2
    assert client.get("/admin/tickets/ticket/add/").status_code == 403
