"""The one Redis client of the process (the waiting queue, token deny-list, rate limits); the cache
goes through django-redis on the same server. Short timeouts turn an outage into a quick 503.

`REDIS_URL` may name a Redis Cluster with the `redis+cluster://host:port` scheme: the client is then
redis-py's cluster client. Every key the service uses is either a single key or, for the waiting
queue, a set of keys sharing the concert date's hash tag (`queue:{<date_id>}:…`), so every script and
pipeline stays inside one hash slot.
"""

from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django_redis.pool import ConnectionFactory
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def plain_url(url: str) -> str:
    return url.replace("+cluster://", "://", 1)


def _timeouts() -> dict[str, Any]:
    return {
        "socket_timeout": settings.REDIS_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT_SECONDS,
    }


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis | RedisCluster:
    if is_cluster_url(settings.REDIS_URL):
        return RedisCluster.from_url(
            plain_url(settings.REDIS_URL), decode_responses=True, max_connections=settings.REDIS_MAX_CONNECTIONS,
            connection_pool_class=redis.BlockingConnectionPool,  # per node: a burst waits, as below
            **_timeouts(),
        )  # fmt: skip
    # A blocking pool: a burst of threads waits briefly for a connection instead of failing.
    pool = redis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=settings.REDIS_MAX_CONNECTIONS,
        timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS * 2,
        health_check_interval=30,
        decode_responses=True,
        **_timeouts(),
    )
    return redis.Redis(connection_pool=pool)


def redis_key(*parts: object) -> str:
    """A key under the deployment's prefix: `redis_key("auth", "denied", jti)`."""
    return settings.REDIS_KEY_PREFIX + ":".join(str(part) for part in parts)


class ClusterConnectionFactory(ConnectionFactory):
    """django-redis speaks to a single server; this factory hands it redis-py's cluster client when
    the cache's LOCATION uses the `redis+cluster://` scheme (the cache only uses single-key commands)."""

    def connect(self, url: str) -> Any:
        if is_cluster_url(url):
            return RedisCluster.from_url(plain_url(url), **_timeouts())
        return super().connect(url)
