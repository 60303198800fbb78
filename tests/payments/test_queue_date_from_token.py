"""A payment's queue gate takes the concert date from the queue token's own signed claims
(`queue_date_from_token`): no read of the reservation's date before the payment's transaction. What it
must keep: a live token for another date pays nothing (the service refuses a reservation of another
date, 403 QUEUE_TOKEN_REQUIRED, under its lock, and writes nothing), and every refusal answers as it
did when the gate looked the date up first (an unknown reservation is 404 whatever the token says)."""

import pytest

from apps.accounts.models import User, WalletTransaction
from apps.payments.models import Payment
from apps.queue import services as queue
from apps.reservations.models import Reservation
from tests.factories import make_date, seat_ids
from tests.helpers import admitted_client, assert_error, fund, hold_via_api, queue_token

pytestmark = pytest.mark.django_db


def paying(client, reservation_id: int, token: str | None = None):
    """POST /api/payments from `client`, with `token` as its queue token instead of its own if given."""
    if token is not None:
        own = dict(client._credentials)
        client.credentials(**{**own, "HTTP_X_QUEUE_TOKEN": token})
    try:
        return client.post("/api/payments", {"reservation_id": reservation_id}, format="json")
    finally:
        if token is not None:
            client.credentials(**own)


@pytest.fixture
def held(user, concert_date):
    """`user` holding one seat of `concert_date` (a funded buyer, admitted to it): (client, reservation id)."""
    fund(user, "500000.00")
    client = admitted_client(concert_date, user)
    response = hold_via_api(client, concert_date, seat_ids(concert_date, 1))
    assert response.status_code == 201, response.json()
    return client, response.json()["id"]


def test_a_live_token_for_another_date_pays_nothing(held, user):
    client, reservation_id = held
    other_date = make_date()
    balance = User.objects.get(pk=user.pk).balance
    ledger = WalletTransaction.objects.count()

    assert_error(paying(client, reservation_id, queue_token(user, other_date)), 403, "QUEUE_TOKEN_REQUIRED")

    assert Reservation.objects.get(pk=reservation_id).status == "HELD"
    assert User.objects.get(pk=user.pk).balance == balance
    assert (Payment.objects.count(), WalletTransaction.objects.count()) == (0, ledger)
    # The token of the reservation's own date pays it.
    assert paying(client, reservation_id).status_code == 201


def test_an_unknown_reservation_is_404_with_a_live_token(held):
    client, reservation_id = held
    assert_error(paying(client, reservation_id + 1000), 404, "NOT_FOUND")


def test_an_unknown_reservation_is_404_when_the_token_is_no_longer_live(held, user, concert_date):
    client, reservation_id = held
    queue.end_access(user_id=user.pk, concert_date_id=concert_date.pk)
    assert_error(paying(client, reservation_id + 1000), 404, "NOT_FOUND")
    assert_error(paying(client, reservation_id), 403, "QUEUE_TOKEN_REQUIRED")
    assert Reservation.objects.get(pk=reservation_id).status == "HELD"


def test_another_buyers_token_does_not_name_the_date(held, concert_date):
    client, reservation_id = held
    stranger = queue_token(type("Stranger", (), {"pk": 10**9})(), concert_date)
    assert_error(paying(client, reservation_id, stranger), 403, "QUEUE_TOKEN_REQUIRED")
    assert not Payment.objects.exists()
