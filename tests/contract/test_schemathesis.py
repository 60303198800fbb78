"""Property-based contract test: schemathesis generates requests for every operation of the OpenAPI
schema (valid and invalid ones, the boundary cases of every constraint, missing headers), as a buyer
with money, a queue token and data behind it, and runs every one of its checks: no 5xx, every status
documented, bodies and headers as documented, schema-valid requests accepted, schema-violating ones
refused. On top, every error has the API's error shape with a code documented for that operation
and status (`x-error-codes`, apps.common.schema). schemathesis.toml holds the few exceptions."""

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.meta import ParameterLocation

from ticketing.wsgi import application

ROOT = Path(__file__).resolve().parents[2]
schema = schemathesis.openapi.from_wsgi(
    "/api/schema", application, config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml")
)


@schemathesis.check
def error_shape(ctx, response, case):
    if response.status_code < 400:
        return None
    body = response.json()
    error = body.get("error")
    assert isinstance(error, dict), f"error body without 'error': {body}"
    assert isinstance(error.get("message"), str) and error["message"], "error without a message"
    assert isinstance(error.get("details"), dict), "error details must be an object"
    if case.method.upper() != case.operation.method.upper():
        # A method the path does not have (unsupported_method's cases, sent without the login):
        # DRF authenticates before it looks for the method's handler.
        codes = ["METHOD_NOT_ALLOWED", "NOT_AUTHENTICATED"]
    else:
        documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
        codes = documented.get("x-error-codes", [])
    assert error.get("code") in codes, (
        f"{case.method} {case.path}: {response.status_code} {error.get('code')} is not documented (only {codes})"
    )
    return None


# transaction=True: requests go through the real WSGI handler, whose request_started signal closes
# any connection left inside a transaction, as the test-case wrapper would leave it.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_honours_the_contract(case, contract_buyer):
    from apps.accounts.services import issue_tokens

    user, queue_token = contract_buyer
    # A new login for every case: logging out (a generated case may) ends the session's tokens.
    headers = {"Authorization": f"Bearer {issue_tokens(user=user)['access']}", "X-Queue-Token": queue_token}
    headers = {**headers, **(case.headers or {})}
    header_info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header_info is not None and header_info.mode.is_negative:
        # The case breaks its headers on purpose (a required one left out): send them as generated.
        headers = {name: value for name, value in headers.items() if name in (case.headers or {})}
    case.call_and_validate(headers=headers, additional_checks=[error_shape])
