"""Request ids: accepted or made, returned, on every log line (JSON), and carried into the Celery tasks
a request enqueues, through a real broker and worker."""

import logging
import threading

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.http import HttpResponse
from django.test import RequestFactory

from apps.common.logs import current_request_id
from apps.common.middleware import RequestIdMiddleware
from tests.helpers import json_lines, redis_unreachable
from ticketing.celery import app as service_app


def test_a_sane_client_id_is_kept_and_returned(client):
    response = client.get("/api/health/live", HTTP_X_REQUEST_ID="checkout-7f3a.2")
    assert response["X-Request-ID"] == "checkout-7f3a.2"


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "two words", 'quote"', "new\nline"])
def test_a_missing_or_unsafe_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    first = client.get("/api/health/live", **headers)["X-Request-ID"]
    second = client.get("/api/health/live", **headers)["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.django_db
def test_log_lines_are_json_with_the_request_id(client, json_log, user, concert_date):
    from tests.helpers import login_client

    api = login_client(user)
    target = f"concert_id={concert_date.concert_id}&concert_date_id={concert_date.pk}"
    with redis_unreachable():
        response = api.get(f"/api/queue/status?{target}", HTTP_X_REQUEST_ID="req-503-a")
    assert response.status_code == 503
    assert response["X-Request-ID"] == "req-503-a"
    lines = [line for line in json_log() if line["logger"] == "apps.common.exceptions"]
    assert lines, json_log()
    assert lines[0]["request_id"] == "req-503-a"
    assert lines[0]["level"] == "WARNING"
    assert "dependency unavailable" in lines[0]["message"]
    assert current_request_id() is None  # nothing leaks into the next request on this thread


def test_an_exception_is_one_json_line_with_its_traceback(json_log):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("ops.test").exception("failed", extra={"reservation_id": 42})
    (line,) = [line for line in json_log() if line["logger"] == "ops.test"]
    assert line["reservation_id"] == 42
    assert "RuntimeError: boom" in line["exc_info"]


# The worker's Django fixup touches the database connection around each task.
@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_by_a_request_logs_that_request_id():
    """The request sends a task through a real (in-memory) broker; a worker thread, whose context
    knows nothing of the request, runs it: the id reaches it only through the message."""
    app = Celery("request-id-test", broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = False
    app.conf.worker_hijack_root_logger = False  # as the service configures its own worker
    seen: dict[str, object] = {}
    ran = threading.Event()

    @app.task(name="ops.tests.confirm")
    def confirm(reservation_id: int) -> None:
        seen["request_id"] = current_request_id()
        seen["thread"] = threading.current_thread()
        logging.getLogger("ops.task").warning("confirmation sent for %s", reservation_id)
        ran.set()

    def view(request):
        confirm.delay(reservation_id=5)
        return HttpResponse("ok")

    # The worker sets Django up again, which reconfigures the root logger: listen on the task's own.
    try:
        with (
            json_lines("ops.task") as task_log,
            start_worker(app, pool="solo", loglevel="WARNING", perform_ping_check=False, shutdown_timeout=10),
        ):
            response = RequestIdMiddleware(view)(RequestFactory().get("/api/x", HTTP_X_REQUEST_ID="buy-42"))
            assert ran.wait(timeout=20)
    finally:
        # start_worker made the test app the current and default one: give the service its app back,
        # or the tests that follow would send their tasks to this in-memory broker.
        service_app.set_current()
        service_app.set_default()
    assert response["X-Request-ID"] == "buy-42"
    assert seen["thread"] is not threading.current_thread()
    assert seen["request_id"] == "buy-42"
    (line,) = task_log()
    assert line["request_id"] == "buy-42"
    assert line["task_name"] == "ops.tests.confirm"
    assert line["message"] == "confirmation sent for 5"
