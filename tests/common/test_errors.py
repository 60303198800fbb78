import pytest
from django.db import OperationalError

from tests.helpers import assert_error, redis_unreachable

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_json_not_found(api_client):
    assert_error(api_client.get("/api/does-not-exist"), 404, "NOT_FOUND")


def test_method_not_allowed_has_the_error_shape(auth_client):
    assert_error(auth_client.delete("/api/users/me"), 405, "METHOD_NOT_ALLOWED")


def test_wrong_content_type_has_the_error_shape(api_client):
    response = api_client.post("/api/auth/login", data="email=a", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_oversized_body_is_rejected_cleanly(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = '{"email": "' + "a" * 5000 + '", "password": "x"}'
    response = api_client.post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response.json()["error"]["code"] in ("PAYLOAD_TOO_LARGE", "VALIDATION_ERROR")


def test_json_array_body_is_a_validation_error(api_client):
    response = api_client.post("/api/auth/login", data="[1, 2]", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_unexpected_exception_is_500_without_a_trace(auth_client, monkeypatch):
    from apps.accounts import api

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.MeOutputSerializer, "to_representation", boom)
    auth_client.raise_request_exception = False
    response = auth_client.get("/api/users/me")
    error = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in error["message"]


def test_database_down_is_503(auth_client, monkeypatch):
    from apps.accounts import selectors

    def down(**kwargs):
        raise OperationalError(2006, "MySQL server has gone away")

    monkeypatch.setattr(selectors, "balance", down)
    response = auth_client.get("/api/users/me/balance")
    assert_error(response, 503, "SERVICE_UNAVAILABLE")


def test_redis_down_is_503_for_authenticated_requests(auth_client):
    with redis_unreachable():
        response = auth_client.get("/api/users/me")
    assert_error(response, 503, "SERVICE_UNAVAILABLE")


def test_health_reports_both_parts(api_client):
    response = api_client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_names_the_failing_part(api_client):
    with redis_unreachable():
        response = api_client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["database"], body["redis"], body["error"]["code"]) == ("ok", "unavailable", "SERVICE_UNAVAILABLE")


def test_schema_and_docs_are_served(api_client):
    schema = api_client.get("/api/schema")
    assert schema.status_code == 200
    assert b"/api/users/me/balance/charge" in schema.content
    docs = api_client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
