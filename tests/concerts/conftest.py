"""Fixtures of the catalogue tests: the seat map's clock, its cache out of reach, a staff login."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from apps.concerts import seat_map
from tests.factories import UserFactory


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The seat map's clock, moved forward with `clock.move(seconds)` (to the moment a hold ends)."""

    class Clock:
        offset = 0.0

        def move(self, seconds: float) -> None:
            self.offset += seconds

    moved = Clock()
    real = seat_map.clock.now
    monkeypatch.setattr(seat_map.clock, "now", lambda: real() + moved.offset)
    return moved


@pytest.fixture
def cache_unreachable() -> Any:
    """Enter it (`with cache_unreachable:`) to point the Django cache, the seat map's store, at a
    closed port (Redis down for the cache)."""
    unreachable = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    return override_settings(CACHES=unreachable)


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(role="STAFF"))
    return client
