"""The OpenAPI document states every error an operation can answer, in one Error component, and the
bounds the server enforces (so that a generated client can trust it)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_error_shape_is_one_component(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["required"]) == {"code", "message", "details"}
    assert "SEAT_UNAVAILABLE" in schema["components"]["schemas"]["CodeEnum"]["enum"]


def test_every_operation_documents_its_errors_with_the_error_shape(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        if path != "/api/health/live":
            assert "503" in responses, (method, path)
        for status, response in responses.items():
            if int(status) >= 400 and path != "/api/health":
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, status)
                assert "`" in response["description"], (method, path, status)  # lists its codes


@pytest.mark.parametrize(
    ("method", "path", "status", "codes"),
    [
        ("get", "/api/users/me", "401", {"NOT_AUTHENTICATED"}),
        ("post", "/api/reservations", "403", {"QUEUE_TOKEN_REQUIRED"}),
        ("post", "/api/payments", "409", {"IDEMPOTENCY_CONFLICT"}),
        ("post", "/api/payments", "403", {"QUEUE_TOKEN_REQUIRED"}),
        ("get", "/api/reservations/{reservation_id}", "404", {"NOT_FOUND"}),
        ("post", "/api/auth/login", "429", {"THROTTLED"}),
        ("post", "/api/auth/signup", "415", {"UNSUPPORTED_MEDIA_TYPE"}),
        ("post", "/api/auth/signup", "413", {"PAYLOAD_TOO_LARGE"}),
        ("get", "/api/concerts", "400", {"VALIDATION_ERROR"}),
    ],
)
def test_derived_error_codes(schema, method, path, status, codes):
    description = schema["paths"][path][method]["responses"][status]["description"]
    assert all(f"`{code}`" in description for code in codes), description


def test_public_operations_promise_no_401(schema):
    for path in ("/api/concerts", "/api/health/ready", "/api/auth/signup"):
        (operation,) = schema["paths"][path].values()
        assert "401" not in operation["responses"], path


def test_page_parameters_state_their_minimum(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/reservations"]["get"]["parameters"]}
    assert parameters["page"]["minimum"] == 1
    assert parameters["page_size"]["minimum"] == 1


@pytest.mark.django_db
def test_page_size_zero_is_refused_as_the_schema_says(auth_client):
    from tests.helpers import assert_error

    assert_error(auth_client.get("/api/reservations?page_size=0"), 400, "VALIDATION_ERROR")
    assert auth_client.get("/api/reservations?page_size=1").status_code == 200
