"""The ticket and check-in endpoints of docs/API.md: status, body and error code."""

import base64
import re

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from apps.common import outbox
from apps.payments import services as payments
from apps.reservations import services as reservations
from apps.tickets import signing
from apps.tickets.models import Ticket
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, fund, login_client

pytestmark = pytest.mark.django_db


def tickets_url(reservation):
    return f"/api/reservations/{reservation.pk}/tickets"


def test_the_owner_lists_one_ticket_per_seat_with_its_code(paid_booking, django_assert_max_num_queries):
    date = make_date()
    ids = seat_ids(date, 4)
    reservation = paid_booking(date, ids)
    client = login_client(reservation.user)
    with django_assert_max_num_queries(6):  # auth, the reservation and its seats, the tickets
        response = client.get(tickets_url(reservation))
    assert response.status_code == 200, response.content
    body = response.json()
    assert [t["seat"]["id"] for t in body] == ids
    first = body[0]
    assert set(first) == {"id", "seat", "code", "status"}
    assert set(first["seat"]) == {"id", "seat_num", "section", "row"}
    assert first["status"] == "VALID"
    claim = signing.verify_code(first["code"])
    assert (claim.ticket_id, claim.concert_date_id, claim.seat_id) == (first["id"], date.pk, ids[0])


def test_another_users_reservation_is_not_found(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    assert_error(login_client(UserFactory()).get(tickets_url(reservation)), 404, "NOT_FOUND")


def test_a_held_reservation_has_no_tickets(db):
    date = make_date()
    user = UserFactory()
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    assert_error(login_client(user).get(tickets_url(reservation)), 409, "INVALID_STATE")


def test_a_cancelled_booking_has_no_tickets_to_show(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    reservations.cancel_reservation(user=reservation.user, reservation_id=reservation.pk)
    assert_error(login_client(reservation.user).get(tickets_url(reservation)), 409, "INVALID_STATE")


def test_the_list_needs_a_login(paid_booking, api_client):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    assert_error(api_client.get(tickets_url(reservation)), 401, "NOT_AUTHENTICATED")


def test_the_qr_image_is_svg_encoding_exactly_the_code(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    client = login_client(reservation.user)
    ticket = client.get(tickets_url(reservation)).json()[0]
    response = client.get(f"/api/tickets/{ticket['id']}/qr.svg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    svg = response.content.decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.rstrip().endswith("</svg>")
    # The symbol segno draws for exactly the code (same version, same modules), and not for another.
    path = re.search(r' d="([^"]+)"', svg).group(1)
    assert path == re.search(
        r' d="([^"]+)"', segno.make(ticket["code"], error="m").svg_inline(scale=4, border=4)
    ).group(1)
    assert path != re.search(
        r' d="([^"]+)"', segno.make(ticket["code"] + "x", error="m").svg_inline(scale=4, border=4)
    ).group(1)


def test_the_qr_image_of_another_users_ticket_is_not_found_in_json(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    ticket = Ticket.objects.get(reservation=reservation)
    response = login_client(UserFactory()).get(f"/api/tickets/{ticket.pk}/qr.svg", HTTP_ACCEPT="image/svg+xml")
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "NOT_FOUND")


def test_the_public_key_is_published_and_verifies_the_codes(paid_booking, api_client):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    response = api_client.get("/api/checkin/public-key")
    assert response.status_code == 200
    body = response.json()
    assert body["algorithm"] == "Ed25519"
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
    code = login_client(reservation.user).get(tickets_url(reservation)).json()[0]["code"]
    assert signing.verify_code(code, key=key).concert_date_id == date.pk


def scan(client, code):
    return client.post("/api/checkin", {"code": code}, format="json")


def test_staff_check_a_ticket_in_once(paid_booking, staff_client):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    ticket = login_client(reservation.user).get(tickets_url(reservation)).json()[0]
    first = scan(staff_client, ticket["code"])
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["ticket_id"] == ticket["id"] and body["concert_date_id"] == date.pk
    assert body["seat"] == ticket["seat"]
    error = assert_error(scan(staff_client, ticket["code"]), 409, "ALREADY_CHECKED_IN")
    assert error["details"] == {"checked_in_at": body["checked_in_at"]}
    assert login_client(reservation.user).get(tickets_url(reservation)).json()[0]["status"] == "CHECKED_IN"


def test_a_refunded_bookings_ticket_is_void_at_the_door(paid_booking, staff_client):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    code = login_client(reservation.user).get(tickets_url(reservation)).json()[0]["code"]
    assert login_client(reservation.user).post(f"/api/reservations/{reservation.pk}/cancel").status_code == 200
    assert_error(scan(staff_client, code), 409, "TICKET_VOID")


@pytest.mark.parametrize("code", ["", "nonsense", "a.b", "x" * 5000])
def test_malformed_codes_are_invalid_tickets_or_validation_errors(staff_client, code):
    response = scan(staff_client, code)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"INVALID_TICKET", "VALIDATION_ERROR"}


def test_a_forged_or_altered_code_is_an_invalid_ticket(paid_booking, staff_client):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 2))
    first, second = login_client(reservation.user).get(tickets_url(reservation)).json()
    # The second seat's payload under the first seat's signature.
    swapped = f"{second['code'].split('.')[0]}.{first['code'].split('.')[1]}"
    assert_error(scan(staff_client, swapped), 400, "INVALID_TICKET")
    assert_error(scan(staff_client, "nonsense"), 400, "INVALID_TICKET")
    assert Ticket.objects.filter(status="VALID").count() == 2


def test_a_code_for_no_ticket_is_an_invalid_ticket(staff_client, db):
    assert_error(
        scan(staff_client, signing.sign_code(ticket_id=999999, concert_date_id=1, seat_id=1)), 400, "INVALID_TICKET"
    )


def test_a_buyer_may_not_check_in(paid_booking):
    date = make_date()
    reservation = paid_booking(date, seat_ids(date, 1))
    client = login_client(reservation.user)
    code = client.get(tickets_url(reservation)).json()[0]["code"]
    assert_error(scan(client, code), 403, "PERMISSION_DENIED")
    assert Ticket.objects.get(reservation=reservation).status == "VALID"


def test_check_in_needs_a_login(api_client, db):
    assert_error(scan(api_client, "a.b"), 401, "NOT_AUTHENTICATED")


def test_a_free_booking_gets_its_tickets_too(db, django_capture_on_commit_callbacks):
    """A free (zero-price) reservation is confirmed without a debit, and gets its tickets too."""
    date = make_date(layout=[{"name": "Floor", "rows": 1, "seats_per_row": 2, "price": "0.00"}])
    user = UserFactory()
    fund(user, "1.00")
    reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    with django_capture_on_commit_callbacks(execute=True):
        payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
    outbox.relay()  # the payment's effect issues the tickets
    assert Ticket.objects.filter(reservation=reservation).count() == 1
