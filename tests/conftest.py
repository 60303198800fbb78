from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from apps.common.redis import get_redis
from tests.factories import UserFactory


@pytest.fixture(scope="session", autouse=True)
def _database_capacity(django_db_setup: None, django_db_blocker: Any) -> None:
    """Race tests open one connection per thread (200 at once); the stock limit is 151."""
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute("SET GLOBAL max_connections = GREATEST(@@GLOBAL.max_connections, 1000)")


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    from django.core.cache import cache

    get_redis().flushdb()
    cache.clear()
    return


@contextmanager
def redis_unreachable() -> Iterator[None]:
    """Point the service's Redis client at a closed port (a Redis outage) for the duration."""
    from django.test import override_settings

    from apps.queue import scripts

    get_redis.cache_clear()
    scripts._registered.cache_clear()
    try:
        with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
            yield
    finally:
        get_redis.cache_clear()
        scripts._registered.cache_clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db: None) -> Any:
    return UserFactory()


def login_client(user: Any) -> APIClient:
    from apps.accounts.services import issue_tokens

    client = APIClient()
    tokens = issue_tokens(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.tokens = tokens  # type: ignore[attr-defined]
    return client


@pytest.fixture
def auth_client(user: Any) -> APIClient:
    return login_client(user)


def run_in_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Start `count` threads on a barrier so they hit the database together; each returns
    target(i) or the exception it raised. Every thread closes its own DB connection."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = target(index)
        except BaseException as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    return results


def assert_error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert set(body) >= {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]
