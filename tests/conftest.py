from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.accounts.access_tokens import reset_remembering_backend
from apps.common.redis import get_redis
from apps.concerts import choosing, seat_map
from apps.concerts.models import ConcertDate
from apps.concerts.selectors import forget_dates
from tests import helpers
from tests.factories import UserFactory, make_date


@pytest.fixture(autouse=True)
def _clean_redis_and_date_facts() -> None:
    """Every test starts with an empty Redis db and no date facts kept in this process."""
    get_redis().flushdb()
    cache.clear()
    forget_dates()
    seat_map.forget_local_copies()  # this process's copies of seat-map renders go with the cache
    choosing.forget_free_runs()  # and the chooser's plans and runs (a flushed database reuses ids)
    reset_remembering_backend()  # and the access tokens this process verified (a test may change its size)


@pytest.fixture(autouse=True)
def _outbox_fast_path_on() -> None:
    """A test whose effects failed after commit must not leave the next test without the fast path."""
    from apps.common import outbox

    outbox._paused_until.clear()


@pytest.fixture
def without_fast_path(monkeypatch) -> None:
    """Effects run only when the test runs the relay (as after a failure of the fast path)."""
    from apps.common import outbox

    monkeypatch.setattr(outbox, "_paused_until", dict.fromkeys(outbox._effects, float("inf")))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory()


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    return helpers.login_client(user)


@pytest.fixture
def concert_date(db: None) -> ConcertDate:
    return make_date()


@pytest.fixture
def admitted_client(db: None) -> Callable[..., APIClient]:
    """Makes a logged-in buyer (a new one unless given) holding the queue access token of a date."""

    def make(date: ConcertDate, user: Any = None) -> APIClient:
        return helpers.admitted_client(date, user or UserFactory())

    return make


@pytest.fixture
def buyer(user: Any, concert_date: ConcertDate) -> APIClient:
    """`user`, logged in and holding the queue access token of `concert_date`."""
    return helpers.admitted_client(concert_date, user)
