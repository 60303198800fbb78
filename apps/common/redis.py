"""The one Redis client of the process (the waiting queue, token deny-list); the cache goes
through django-redis on the same server. Short timeouts turn an outage into a quick 503."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    # A blocking pool: a burst of threads waits briefly for a connection instead of failing.
    pool = redis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS * 2,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT_SECONDS,
        health_check_interval=30,
        decode_responses=True,
    )
    return redis.Redis(connection_pool=pool)


def redis_key(*parts: object) -> str:
    """A key under the deployment's prefix: `redis_key("auth", "denied", jti)`."""
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)
