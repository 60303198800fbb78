"""A request that waited past REQUEST_QUEUED_LIMIT_SECONDS for a web worker (the proxy's X-Request-Start)
is answered 503 at once and changes nothing; every other request is served as before."""

import time

import pytest

from apps.accounts.models import TokenFamily
from apps.common import metrics
from apps.concerts.models import Seat, SeatStatus
from apps.reservations.models import Reservation
from tests.factories import DEFAULT_PASSWORD, UserFactory, seat_ids
from tests.helpers import login_client

pytestmark = pytest.mark.django_db

LIMIT = 5.0


@pytest.fixture(autouse=True)
def behind_the_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.REQUEST_QUEUED_LIMIT_SECONDS = LIMIT


def stamped(seconds_ago: float) -> dict[str, str]:
    return {"HTTP_X_REQUEST_START": f"t={time.time() - seconds_ago:.3f}"}


def shed_count() -> float:
    return metrics.sheds.labels("queued")._value.get()


def assert_shed(response) -> None:
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert LIMIT <= int(response["Retry-After"]) <= 2 * LIMIT


def test_an_entry_that_waited_too_long_is_shed_and_takes_no_place(concert_date, user):
    client = login_client(user)
    target = {"concert_id": concert_date.concert_id, "concert_date_id": concert_date.pk}
    before = shed_count()
    response = client.post("/api/queue", target, format="json", HTTP_X_REQUEST_ID="late-entry-1", **stamped(6))
    assert_shed(response)
    assert response["X-Request-ID"] == "late-entry-1"
    assert shed_count() == before + 1
    status = client.get("/api/queue/status", target, **stamped(0.1))
    assert status.status_code == 200
    assert status.json()["status"] == "NOT_IN_QUEUE"
    # The same entry on time is served.
    assert client.post("/api/queue", target, format="json", **stamped(1)).status_code == 201


def test_a_login_that_waited_too_long_is_shed_before_the_password_is_checked(api_client):
    user = UserFactory()
    body = {"email": user.email, "password": DEFAULT_PASSWORD}
    families = TokenFamily.objects.count()
    assert_shed(api_client.post("/api/auth/login", body, format="json", **stamped(LIMIT + 0.5)))
    assert TokenFamily.objects.count() == families
    assert api_client.post("/api/auth/login", body, format="json", **stamped(0.5)).status_code == 200


def test_a_hold_that_waited_too_long_is_shed_and_holds_nothing(concert_date, admitted_client):
    client = admitted_client(concert_date)
    seats = seat_ids(concert_date, 2)
    response = client.post("/api/reservations", {"concert_date_id": concert_date.pk, "seat_ids": seats},
                           format="json", **stamped(30))  # fmt: skip
    assert_shed(response)
    assert not Reservation.objects.exists()
    assert set(Seat.objects.filter(pk__in=seats).values_list("status", flat=True)) == {SeatStatus.AVAILABLE}


@pytest.mark.parametrize(
    ("num_proxies", "limit", "seconds_ago"),
    [
        (0, LIMIT, 30),  # no trusted proxy: a client's own header is not believed
        (1, 0, 30),  # 0 turns the limit off
        (1, LIMIT, LIMIT - 1),  # within the limit
        (1, LIMIT, -30),  # a stamp from the future is a clock problem, not a wait
        (1, LIMIT, 3600),  # and so is one an hour old
    ],
)
def test_served_when_not_late_or_not_known_to_be(settings, user, concert_date, num_proxies, limit, seconds_ago):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    settings.REQUEST_QUEUED_LIMIT_SECONDS = limit
    target = {"concert_id": concert_date.concert_id, "concert_date_id": concert_date.pk}
    response = login_client(user).post("/api/queue", target, format="json", **stamped(seconds_ago))
    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/api/health/live", "/api/health/ready"])
def test_health_probes_are_never_shed(client, path):
    assert client.get(path, **stamped(30)).status_code == 200


def test_a_malformed_stamp_is_ignored(user, concert_date):
    target = {"concert_id": concert_date.concert_id, "concert_date_id": concert_date.pk}
    response = login_client(user).post("/api/queue", target, format="json", HTTP_X_REQUEST_START="t=soon")
    assert response.status_code == 201
