"""Fixtures of the fault tests: a Redis of the test's own that it may stop and start (the shared one
is never touched)."""

from contextlib import contextmanager

import pytest
from django.test import override_settings

from tests.helpers import DisposableRedis, forget_redis_clients
from ticketing.celery import app as celery_app


@pytest.fixture
def own_redis():
    server = DisposableRedis()
    server.start()
    forget_redis_clients()
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url,
                          "OPTIONS": {"SOCKET_TIMEOUT": 0.5, "SOCKET_CONNECT_TIMEOUT": 0.5}}}  # fmt: skip
    with override_settings(REDIS_URL=server.url, CACHES=caches):
        from django.core.cache import caches as django_caches

        django_caches._settings = None  # re-read CACHES
        yield server
    server.stop()
    forget_redis_clients()


@contextmanager
def real_broker(url: str):
    """Send tasks through a real Redis broker at `url` instead of running them eagerly."""
    saved = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    celery_app.conf.broker_url, celery_app.conf.task_always_eager = url, False
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = saved
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
