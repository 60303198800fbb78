"""Property-based contract test: schemathesis generates requests for every operation of the OpenAPI
schema (valid and invalid), authenticated as a buyer with money, a queue token and data behind it.
Every answer must be free of 5xx, match the schema where the schema documents it, and every error
must have the API.md error shape with a known code."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from apps.common.error_codes import ErrorCode
from ticketing.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema", application)
KNOWN_CODES = {code.value for code in ErrorCode}


@schemathesis.check
def error_shape(ctx, response, case):
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error")
    assert isinstance(error, dict), f"error body without 'error': {body}"
    assert error.get("code") in KNOWN_CODES, f"unknown error code: {error.get('code')}"
    assert isinstance(error.get("message"), str) and error["message"], "error without a message"
    assert isinstance(error.get("details"), dict), "error details must be an object"
    return None


@schemathesis.check
def no_server_error(ctx, response, case):
    assert response.status_code < 500 or response.status_code == 503, (
        f"server error {response.status_code} for {case.body!r}"
    )
    return None


# transaction=True: requests go through the real WSGI handler, whose request_started signal closes
# any connection left inside a transaction, as the test-case wrapper would leave it.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_honours_the_contract(case, buyer_headers):
    if case.path == "/api/auth/logout":
        # Logging out would revoke the shared token for the cases that follow.
        case.headers = {**(case.headers or {}), "Authorization": "Bearer not-a-token"}
    case.call_and_validate(
        headers={**buyer_headers, **(case.headers or {})},
        checks=[no_server_error, error_shape, response_schema_conformance],
    )
