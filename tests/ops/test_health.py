"""Liveness and readiness, and the 503s that tell a client (or a load balancer) when to come back."""

import pytest

from tests.helpers import assert_error, redis_unreachable


@pytest.mark.django_db
def test_ready_and_live_when_everything_answers(client):
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    live = client.get("/api/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}


@pytest.mark.django_db
def test_not_ready_without_redis_but_still_live(client):
    with redis_unreachable():
        ready = client.get("/api/health/ready")
        live = client.get("/api/health/live")
    error = assert_error(ready, 503, "SERVICE_UNAVAILABLE")
    assert error["details"] == {"database": "ok", "redis": "unavailable"}
    assert int(ready["Retry-After"]) > 0
    assert live.status_code == 200


@pytest.mark.django_db
def test_the_combined_health_check_says_when_to_retry(client):
    with redis_unreachable():
        response = client.get("/api/health")
    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert response.json()["redis"] == "unavailable"
    assert int(response["Retry-After"]) > 0


def test_liveness_touches_no_dependency(client):
    # No django_db mark: a database query here would raise instead of answering.
    with redis_unreachable():
        assert client.get("/api/health/live").status_code == 200
