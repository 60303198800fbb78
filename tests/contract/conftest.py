"""Fixtures of the contract tests."""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture
def contract_buyer(transactional_db):
    """A buyer with money and the queue access token of a date with seats: (user, queue token)."""
    from tests.factories import UserFactory, make_date
    from tests.helpers import fund, queue_token

    date = make_date()
    user = UserFactory()
    fund(user)
    return user, queue_token(user, date)


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)
