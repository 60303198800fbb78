from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.concerts.models import ConcertDate
from apps.queue.services import issue_access_token
from tests.conftest import login_client
from tests.factories import UserFactory

from .factories import make_date


@pytest.fixture
def concert_date(db: None) -> ConcertDate:
    return make_date()


@pytest.fixture
def admitted_client(db: None) -> Callable[[ConcertDate], APIClient]:
    """A logged-in buyer holding the queue access token of the given date."""

    def make(date: ConcertDate, user: Any = None) -> APIClient:
        user = user or UserFactory()
        client = login_client(user)
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}",
            HTTP_X_QUEUE_TOKEN=issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
        )
        client.user = user  # type: ignore[attr-defined]
        return client

    return make
