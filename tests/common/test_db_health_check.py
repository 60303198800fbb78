"""The MariaDB connection's health check (apps.common.mysql): Django pings a persistent connection
before each request's first statement; here only a connection idle longer than
DB_HEALTH_CHECK_IDLE_SECONDS is pinged. A dead connection is replaced without an error after an idle
spell, and within the interval costs one request a 503, after which the next reconnects."""

from collections.abc import Iterator

import MySQLdb
import pytest
from django.db import OperationalError, connection, connections
from django.db.backends.signals import connection_created

from apps.concerts.models import Seat
from tests.factories import make_date

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "mysql", reason="the health check is the MySQL backend's"),
]


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ping the backend sends on any connection from now on (is_usable is the check's ping)."""
    sent: list[str] = []
    real = type(connections["default"]).is_usable

    def counted(self) -> bool:
        sent.append(self.alias)
        return real(self)

    monkeypatch.setattr(type(connections["default"]), "is_usable", counted)
    return sent


@pytest.fixture
def health_checked(settings) -> Iterator[None]:
    """A persistent connection with health checks on, as in production (the test settings may differ)."""
    connection.close()
    saved = connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"]
    connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"] = 60, True
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"], connection.settings_dict["CONN_HEALTH_CHECKS"] = saved


def a_request_reads() -> int:
    """What a request does to the connection: Django's check when it starts (request_started), then a
    statement."""
    connection.close_if_unusable_or_obsolete()
    return Seat.objects.count()


def kill(connection_id: int) -> None:
    """Ends the server side of a connection, as a restart of the server would."""
    params = connection.get_connection_params()
    params.pop("client_flag", None)
    other = MySQLdb.connect(**params)
    try:
        other.cursor().execute(f"KILL {int(connection_id)}")
    finally:
        other.close()


def server_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        return cursor.fetchone()[0]


def test_a_connection_used_within_the_interval_is_not_pinged(health_checked, pings, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    make_date()
    first = a_request_reads()
    for _ in range(3):
        assert a_request_reads() == first
    assert pings == []


def test_a_connection_idle_longer_is_pinged_before_the_request_uses_it(health_checked, pings, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 0  # every connection counts as idle: Django's own check
    a_request_reads()
    a_request_reads()
    assert pings == ["default"]  # the first request's connection was new: connecting is its check
    connection.used_at -= 1_000
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 5
    a_request_reads()
    assert pings == ["default", "default"]


def test_a_dead_connection_found_idle_is_replaced_without_an_error(health_checked, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 5
    dead = server_id()
    kill(dead)
    connection.used_at -= 1_000  # idle past the interval: the check pings, finds it dead, reconnects
    opened: list[int] = []
    connection_created.connect(lambda **kwargs: opened.append(1), weak=False, dispatch_uid="health-test")
    try:
        assert a_request_reads() >= 0
    finally:
        connection_created.disconnect(dispatch_uid="health-test")
    assert opened == [1] and server_id() != dead


def test_a_dead_connection_within_the_interval_fails_one_request_and_the_next_reconnects(health_checked, settings):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    dead = server_id()
    kill(dead)
    with pytest.raises(OperationalError):
        a_request_reads()  # not pinged: its first statement meets the dropped connection
    connection.close_if_unusable_or_obsolete()  # the request ends (request_finished): errors seen, closed
    assert connection.connection is None
    assert a_request_reads() >= 0
    assert server_id() != dead


def test_over_http_a_request_on_a_dropped_connection_answers_503_and_the_next_succeeds(
    health_checked, settings, admitted_client
):
    settings.DB_HEALTH_CHECK_IDLE_SECONDS = 60
    date = make_date()
    client = admitted_client(date)
    body = {"concert_date_id": date.pk, "quantity": 1}
    kill(server_id())
    connection.close_if_unusable_or_obsolete()  # request_started (the test client leaves it out)
    failed = client.post("/api/reservations", body, format="json")
    assert failed.status_code == 503, failed.content
    assert failed.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert failed.has_header("Retry-After")
    connection.close_if_unusable_or_obsolete()  # request_finished (the test client leaves it out)
    held = client.post("/api/reservations", body, format="json")
    assert held.status_code == 201, held.json()
