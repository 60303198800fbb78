"""The OpenAPI document states every error an operation can answer, in one Error component, and the
bounds the server enforces (so that a generated client can trust it). The property-based run of every
operation is test_schemathesis.py; these pin the mechanism and each constraint."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from rest_framework.exceptions import ValidationError

from apps.accounts.serializers import AmountField
from apps.common.error_codes import MEANING_OF, STATUS_OF, ErrorCode
from apps.common.exceptions import ServiceUnavailable, render_exception
from apps.common.schema import amount_pattern
from tests.helpers import assert_error

ERROR_REF = "#/components/schemas/Error"


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
        ("post", "/api/checkin", "400", {"VALIDATION_ERROR", "INVALID_TICKET"}),
        ("post", "/api/checkin", "403", {"PERMISSION_DENIED"}),
        ("post", "/api/checkin", "409", {"ALREADY_CHECKED_IN", "TICKET_VOID"}),
        ("get", "/api/reservations/{reservation_id}/tickets", "409", {"INVALID_STATE"}),
        ("get", "/api/tickets/{ticket_id}/qr.svg", "404", {"NOT_FOUND"}),
    ],
)
def test_derived_error_codes(schema, method, path, status, codes):
    description = schema["paths"][path][method]["responses"][status]["description"]
    assert all(f"`{code}`" in description for code in codes), description


def test_the_qr_image_is_documented_as_svg(schema):
    ok = schema["paths"]["/api/tickets/{ticket_id}/qr.svg"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["image/svg+xml"]


def test_public_operations_promise_no_401(schema):
    for path in ("/api/concerts", "/api/health/ready", "/api/auth/signup", "/api/checkin/public-key"):
        (operation,) = schema["paths"][path].values()
        assert "401" not in operation["responses"], path


def test_page_parameters_state_their_minimum(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/reservations"]["get"]["parameters"]}
    assert parameters["page"]["minimum"] == 1
    assert parameters["page_size"]["minimum"] == 1


@pytest.mark.django_db
def test_page_size_zero_is_refused_as_the_schema_says(auth_client):
    assert_error(auth_client.get("/api/reservations?page_size=0"), 400, "VALIDATION_ERROR")
    assert auth_client.get("/api/reservations?page_size=1").status_code == 200


def operation(schema, operation_id):
    return next(op for _, _, op in operations(schema) if op["operationId"] == operation_id)


def test_every_code_has_a_status_and_a_meaning():
    assert set(STATUS_OF) == set(MEANING_OF) == set(ErrorCode)


def test_every_error_status_lists_its_codes(schema):
    for path, method, op in operations(schema):
        errors = {status: response for status, response in op["responses"].items() if status >= "400"}
        assert "406" in errors, (method, path)
        for status, response in errors.items():
            codes = response["x-error-codes"]
            assert codes and all(STATUS_OF[ErrorCode(code)] == int(status) for code in codes), (path, status)
            if not path.startswith("/api/health"):
                assert set(response["content"]["application/json"]["examples"]) == set(codes)
            assert all(f"`{code}`: {MEANING_OF[ErrorCode(code)]}" in response["description"] for code in codes)


def codes_of(schema, operation_id):
    return {
        int(status): set(response.get("x-error-codes", []))
        for status, response in operation(schema, operation_id)["responses"].items()
        if status >= "400"
    }


def test_the_codes_follow_from_what_each_operation_declares(schema):
    # Public, no body, no parameters: only what every operation can answer.
    assert codes_of(schema, "concerts_retrieve") == {
        404: {"NOT_FOUND"}, 406: {"NOT_ACCEPTABLE"}, 503: {"SERVICE_UNAVAILABLE"}
    }  # fmt: skip
    # Login needed, a body, a queue token, an Idempotency-Key, throttled, the payment's own rules.
    assert codes_of(schema, "payments_create") == {
        400: {"VALIDATION_ERROR"},
        401: {"NOT_AUTHENTICATED"},
        403: {"QUEUE_TOKEN_REQUIRED"},
        404: {"NOT_FOUND"},
        406: {"NOT_ACCEPTABLE"},
        409: {"HOLD_EXPIRED", "INVALID_STATE", "INSUFFICIENT_BALANCE", "IDEMPOTENCY_CONFLICT"},
        413: {"PAYLOAD_TOO_LARGE"},
        415: {"UNSUPPORTED_MEDIA_TYPE"},
        429: {"THROTTLED"},
        503: {"SERVICE_UNAVAILABLE"},
    }
    assert codes_of(schema, "auth_login")[401] == {"INVALID_CREDENTIALS"}
    assert codes_of(schema, "queue_enter")[429] == codes_of(schema, "reservation_token")[429] == {"THROTTLED"}
    assert 429 not in codes_of(schema, "queue_status")
    assert codes_of(schema, "reservations_list")[404] == {"NOT_FOUND"}  # a page past the last
    assert 429 not in codes_of(schema, "reservations_list")  # only holding is throttled
    assert codes_of(schema, "seat_status_retrieve")[403] == {"QUEUE_TOKEN_REQUIRED"}


def test_error_headers_are_documented(schema):
    responses = operation(schema, "payments_create")["responses"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert responses["503"]["headers"]["Retry-After"]["required"] is True
    assert "WWW-Authenticate" in responses["401"]["headers"]


def test_a_503_raised_as_an_application_error_says_when_to_retry():
    status, body, headers = render_exception(ServiceUnavailable())
    assert (status, body["error"]["code"], headers.get("Retry-After")) == (503, "SERVICE_UNAVAILABLE", "2")


# --- Constraints ---------------------------------------------------------------------------------


def parameter(schema, operation_id, name):
    return next(p for p in operation(schema, operation_id).get("parameters", []) if p["name"] == name)


def test_pages_and_path_ids_have_their_bounds(schema):
    for name in ("page", "page_size"):
        assert parameter(schema, "payments_list", name)["schema"] == {
            "type": "integer", "minimum": 1, "maximum": 999_999_999
        }  # fmt: skip
    assert parameter(schema, "reservations_retrieve", "reservation_id")["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 10**18 - 1
    }  # fmt: skip


@pytest.mark.parametrize("page_size", ["0", "-1", "1000000000", "\u00b2", "\u0665", "1e2"])
def test_a_page_size_outside_the_schema_is_400(auth_client, page_size):
    assert_error(auth_client.get("/api/reservations", {"page_size": page_size}), 400, "VALIDATION_ERROR")


def test_seat_ids_are_unique_items(schema):
    body = schema["components"]["schemas"]["ReservationListCreateApiInputRequest"]
    seat_ids = body["properties"]["seat_ids"]
    assert (seat_ids["uniqueItems"], seat_ids["minItems"], seat_ids["maxItems"]) == (
        True, 1, settings.MAX_SEATS_PER_RESERVATION
    )  # fmt: skip


def test_the_idempotency_key_pattern_is_the_one_enforced(schema, auth_client):
    pattern = parameter(schema, "wallet_charge", "Idempotency-Key")["schema"]["pattern"]
    assert re.fullmatch(pattern, "4f1c9d3e-9b1a-4c55-8a7e-0d2b6c1f7e21")
    for key in ["with space", "", "caf\u00e9", "x" * 256]:
        assert not re.fullmatch(pattern, key)
    response = auth_client.post(
        "/api/users/me/balance/charge", {"amount": "5"}, format="json", HTTP_IDEMPOTENCY_KEY="with space"
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def amount_field_takes(value: object) -> bool:
    try:
        AmountField().run_validation(value)
    except ValidationError:
        return False
    return True


AMOUNTS = [
    "1", "0.01", "0.1", "0.10", "00.5", "007", "50000.00", "9999999.99", "10000000", "10000000.0",
    "10000000.00", "0", "0.00", "0.001", "", " 5", "5 ", "+5", "-5", "5.", ".5", "5e2", "1_000",
    "\u0665", "10000000.01", "10000001", "99999999", "1.234", "Infinity", "NaN",
]  # fmt: skip


def test_the_amount_pattern_takes_exactly_the_strings_the_field_takes():
    pattern = re.compile(amount_pattern(Decimal(settings.WALLET_MAX_CHARGE)))
    for value in AMOUNTS:
        assert bool(pattern.fullmatch(value)) == amount_field_takes(value), value


@pytest.mark.parametrize("maximum", ["9", "10", "250", "1000", "73519"])
def test_the_amount_pattern_follows_its_maximum(maximum):
    pattern = re.compile(amount_pattern(Decimal(maximum)))
    top = int(maximum)
    for whole in range(0, top + 3):
        for fraction in ("", ".0", ".5", ".00", ".99"):
            value = Decimal(f"{whole}{fraction or '.0'}")
            assert bool(pattern.fullmatch(f"{whole}{fraction}")) == (Decimal("0.01") <= value <= top), (
                maximum, f"{whole}{fraction}"
            )  # fmt: skip


def test_the_amount_schema_takes_strings_and_numbers(schema):
    amount = schema["components"]["schemas"]["BalanceChargeApiInputRequest"]["properties"]["amount"]
    string, number = amount["oneOf"]
    assert string["type"] == "string" and string["pattern"] == amount_pattern(Decimal(settings.WALLET_MAX_CHARGE))
    assert number == {
        "type": "number",
        "minimum": 0.01,
        "maximum": float(settings.WALLET_MAX_CHARGE),
        "multipleOf": 0.01,
    }


# --- Where the server answered differently from the contract -----------------------------------------


def test_paying_without_a_queue_token_is_403_whatever_the_reservation(auth_client):
    # The token is checked before the reservation is looked up: an unknown id must not turn it into a 404.
    for body in ({"reservation_id": 999_999}, {"reservation_id": "not a number"}):
        assert_error(auth_client.post("/api/payments", body, format="json"), 403, "QUEUE_TOKEN_REQUIRED")


def test_seats_without_a_queue_token_is_403_even_for_an_unknown_date(auth_client, concert_date):
    for path in ("seats", "seat-status"):
        response = auth_client.get(f"/api/concerts/{concert_date.concert_id}/dates/999999/{path}")
        assert_error(response, 403, "QUEUE_TOKEN_REQUIRED")


def test_an_empty_seat_status_filter_is_in_the_schema(schema):
    # The server reads `?status=` as no filter; a schema without "" in the enum made that a
    # schema-violating request the server accepted.
    assert "" in parameter(schema, "seats_list", "status")["schema"]["enum"]


def test_a_seat_listed_twice_is_refused_with_its_message(buyer, concert_date):
    seat = concert_date.seats.first()
    response = buyer.post(
        "/api/reservations", {"concert_date_id": concert_date.pk, "seat_ids": [seat.pk, seat.pk]}, format="json"
    )
    assert assert_error(response, 400, "VALIDATION_ERROR")["details"] == {"seat_ids": ["A seat is listed twice."]}


def _valid(instance: object, subschema: dict) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(subschema).is_valid(instance)


def signup_field(schema, name: str) -> dict:
    ref = schema["paths"]["/api/auth/signup"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][name]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "  Ann  "),
        ("name", " " * 50 + "A" * 100 + " " * 50),  # measured after trimming, as DRF measures it
        ("name", "A  B"),
        ("address", ""),
        ("address", "   "),
        ("password", "  spaces kept  "),
    ],
)
@pytest.mark.django_db
def test_text_the_server_takes_is_valid_in_the_schema(schema, api_client, field, value):
    assert _valid(value, signup_field(schema, field))
    body = {"email": "text@example.com", "password": "a long pass phrase 7", "name": "Ann", field: value}
    response = api_client.post("/api/auth/signup", body, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "   "), ("name", "A" * 101), ("name", "A\x00B"), ("address", "x\x00"), ("password", "pass\x00word-long")],
)
@pytest.mark.django_db
def test_text_the_server_refuses_is_invalid_in_the_schema(schema, api_client, field, value):
    from tests.helpers import assert_error

    assert not _valid(value, signup_field(schema, field))
    body = {"email": "text@example.com", "password": "a long pass phrase 7", "name": "Ann", field: value}
    error = assert_error(api_client.post("/api/auth/signup", body, format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"]


# --- JSON bodies: each field in the type the schema gives it ------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/queue", {"concert_id": "1", "concert_date_id": 1}, "concert_id"),
        ("/api/queue", {"concert_id": 1, "concert_date_id": 1.0}, "concert_date_id"),
        ("/api/queue", {"concert_id": True, "concert_date_id": 1}, "concert_id"),
        ("/api/reservations", {"concert_date_id": 1, "seat_ids": ["7"]}, "seat_ids"),
        ("/api/payments", {"reservation_id": "1"}, "reservation_id"),
        ("/api/auth/refresh", {"refresh": 12345}, "refresh"),
    ],
)
def test_a_field_of_another_json_type_is_refused(buyer, path, body, field):
    # DRF alone would read "1" and 1.0 as 1, and 12345 as "12345": schema-violating yet accepted.
    error = assert_error(buyer.post(path, body, format="json"), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_a_type_error_is_reported_with_the_other_fields_errors(api_client, db):
    body = {"email": "not-an-e-mail", "password": "correct horse battery staple", "name": 12345}
    error = assert_error(api_client.post("/api/auth/signup", body, format="json"), 400, "VALIDATION_ERROR")
    assert error["details"]["name"] == ["Must be a string."]
    assert "email" in error["details"]


def test_query_parameters_stay_text(buyer, concert_date):
    response = buyer.get(
        "/api/queue/status", {"concert_id": concert_date.concert_id, "concert_date_id": concert_date.pk}
    )
    assert response.status_code == 200


def test_the_queue_token_is_required_where_nothing_can_do_without_it(schema):
    for operation_id in ("reservations_create", "seats_list", "seat_status_retrieve"):
        assert parameter(schema, operation_id, "X-Queue-Token")["required"] is True, operation_id
    # A payment repeated with the Idempotency-Key of one that completed is replayed without it.
    assert not parameter(schema, "payments_create", "X-Queue-Token").get("required", False)
