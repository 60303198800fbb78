"""Run with ticketing.settings.test_replica (make test does): which alias each query used."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from apps.reservations import services as reservations
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import login_client, queue_token

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_the_replica_is_configured():
    assert "replica" in connections.databases


@pytest.mark.parametrize("path", ["/api/concerts", "/api/concerts/{concert}", "/api/concerts/{concert}/dates"])
def test_catalogue_lists_read_the_replica(api_client, path):
    date = make_date()
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        response = api_client.get(path.format(concert=date.concert_id))
    assert response.status_code == 200
    assert len(replica.captured_queries) >= 1
    assert primary.captured_queries == []


def test_bookings_seat_map_and_wallet_read_the_primary():
    date = make_date()
    user = UserFactory()
    client = login_client(user)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
    )
    reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date, 1))
    for path in (
        f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats",
        "/api/reservations",
        "/api/users/me/balance",
        "/api/payments",
    ):
        with CaptureQueriesContext(connections["replica"]) as replica:
            assert client.get(path).status_code == 200, path
        assert replica.captured_queries == [], path
    with CaptureQueriesContext(connections["replica"]) as replica:
        held = client.post(
            "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date)[3:4]}, format="json"
        )
    assert held.status_code == 201
    assert replica.captured_queries == []
