"""Fixtures of the contract tests."""

import pytest


@pytest.fixture
def buyer_headers(transactional_db):
    from tests.factories import UserFactory, make_date
    from tests.helpers import fund, login_client, queue_token

    date = make_date()
    user = UserFactory()
    fund(user)
    tokens = login_client(user).tokens
    return {"Authorization": f"Bearer {tokens['access']}", "X-Queue-Token": queue_token(user, date)}
