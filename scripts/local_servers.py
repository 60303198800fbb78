"""Local servers for the tests and the benchmarks: free loopback ports, gunicorn serving a checkout, and
a web tier of one or several gunicorns (behind HAProxy, or behind nginx with the production config:
scripts/nginx.py). Everything listens on 127.0.0.1 and stops with its context.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scripts.ports import ROOT, free_port, wait_for_port

VENV_BIN = Path(sys.executable).parent


@contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 2, app: str = "ticketing.wsgi", port: int | None = None,
    cwd: Path = ROOT, worker_class: str = "sync", threads: int = 1,
) -> Iterator[str]:  # fmt: skip
    """A gunicorn serving the checkout at `cwd` (this one by default; another to compare against), with
    `workers` processes of `worker_class` ("gthread": `threads` threads each, keeping connections alive)."""
    port = port or free_port()
    # gunicorn.conf.py (read from the project root) writes the JSON access log, as in production; it goes
    # to a file here so that a benchmark's own figures stay readable.
    command = [
        str(VENV_BIN / "gunicorn"), app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning",
    ]  # fmt: skip
    # The master listens before its workers are ready.
    with _started("gunicorn", command, env, port, cwd=cwd, settle=0.5) as base:
        yield base


@contextmanager
def _started(
    name: str, command: list[str], env: dict[str, str], port: int, *, cwd: Path = ROOT, settle: float = 1.0
) -> Iterator[str]:
    """`command` run in `cwd` (listening on `port`, its output in bench/out/logs/`name`-`port`.log)
    until the block ends; yields its base URL `settle` seconds after it listens (its workers start
    after the listener)."""
    logs = ROOT / "bench" / "out" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{name}-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, what=name)
        time.sleep(settle)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@contextmanager
def granian(env: dict[str, str], *, workers: int = 2, threads: int = 1) -> Iterator[str]:
    """Granian (a Rust HTTP server) serving this checkout's WSGI application with `workers` processes of
    `threads` blocking threads each, keeping connections alive: a candidate web server beside
    gunicorn's worker models (bench/worker_model.py)."""
    port = free_port()
    command = [
        str(VENV_BIN / "granian"), "--interface", "wsgi", "ticketing.wsgi:watched_application", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--blocking-threads", str(threads),
        "--log-level", "warning", "--no-access-log", "--respawn-failed-workers",
    ]  # fmt: skip
    with _started("granian", command, env, port) as base:
        yield base


@contextmanager
def granian_crowd(env: dict[str, str], *, workers: int = 2) -> Iterator[str]:
    """The line's crowd tier as deployed (scripts/crowd_server.py: Granian serving the Django
    application) with `workers` processes; its access log stays off unless `env` turns it on."""
    port = free_port()
    command = [sys.executable, str(ROOT / "scripts" / "crowd_server.py")]
    overrides = {"PORT": str(port), "CROWD_WORKERS": str(workers), "CROWD_ACCESS_LOG": env.get("CROWD_ACCESS_LOG", "0")}
    with _started("crowd", command, {**env, **overrides}, port) as base:
        yield base


@contextmanager
def push_server(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """The push process (scripts/push_server.py: Granian serving the line's event streams) with
    `workers` processes, as deployed behind nginx."""
    port = free_port()
    command = [sys.executable, str(ROOT / "scripts" / "push_server.py")]
    with _started("push", command, {**env, "PORT": str(port), "PUSH_WORKERS": str(workers)}, port) as base:
        yield base


@contextmanager
def web_tier(
    env: dict[str, str],
    *,
    servers: int = 1,
    workers: int = 2,
    proxy: str | None = None,
    crowd_workers: int = 0,
    crowd_server: str = "granian",
    web_server: str = "gunicorn",
    push_workers: int = 0,
    access_log: Path | None = None,
) -> Iterator[str]:
    """One gunicorn, or `servers` gunicorns on their own ports behind HAProxy (round robin, HTTP
    keep-alive to the backends) — what a deployment with several web machines looks like.
    proxy="nginx": the gunicorn(s) behind Debian's nginx with the production config (deploy/nginx),
    as buyers reach the service in production; with `crowd_workers`, the line's requests (logins,
    token refreshes, entries, polls) go to a crowd tier of that many processes of their own (nginx's
    crowd upstream): scripts/crowd_server.py (Granian) as deployed, or crowd_server="gunicorn" for sync
    workers; web_server="granian" puts the rest on Granian too (`workers` processes per server, a
    measurement: the product's web tier is gunicorn); with `push_workers`, the line's event streams
    go to the push process (that many Granian processes; without it Django answers them 404); nginx's
    JSON access log goes to `access_log` when given."""
    if proxy == "nginx":
        from contextlib import ExitStack

        from scripts.nginx import nginx_proxy

        env = {**env, "NUM_PROXIES": "1"}  # as deployed behind it (X-Forwarded-For, X-Request-Start)
        with ExitStack() as stack:
            web = granian if web_server == "granian" else gunicorn
            backends = [stack.enter_context(web(env, workers=workers)) for _ in range(max(servers, 1))]
            upstream = ",".join(url.removeprefix("http://") for url in backends)
            crowd_tier = granian_crowd if crowd_server == "granian" else gunicorn
            crowd = (
                stack.enter_context(crowd_tier(env, workers=crowd_workers)).removeprefix("http://")
                if crowd_workers
                else None
            )
            push = stack.enter_context(push_server(env, workers=push_workers)) if push_workers else None
            # A stream holds two of a worker's connections (the page's and the push process's): with the
            # streams, four workers hold a 20,000-long line within this machine's 20,000 open files each.
            yield stack.enter_context(
                nginx_proxy(
                    upstream=upstream,
                    port=free_port(),
                    workers=4 if push else 2,
                    crowd_upstream=crowd,
                    push_upstream=push and push.removeprefix("http://"),
                    access_log=access_log,
                )
            )
        return
    if crowd_workers or push_workers:
        raise ValueError("a crowd or a push process of its own needs proxy='nginx' (its routing is nginx's)")
    if proxy not in (None, "none"):
        raise ValueError(f"unknown proxy {proxy!r}")
    if servers <= 1:
        with gunicorn(env, workers=workers) as base:
            yield base
        return
    import shutil
    import tempfile
    from contextlib import ExitStack

    if shutil.which("haproxy") is None:
        raise RuntimeError("several web servers need haproxy (scripts/ensure-bench-tools.sh installs it)")
    with ExitStack() as stack:
        backends = [stack.enter_context(gunicorn(env, workers=workers)) for _ in range(servers)]
        port = free_port()
        lines = [
            "defaults", "  mode http", "  timeout connect 5s", "  timeout client 60s", "  timeout server 60s",
            "frontend web", f"  bind 127.0.0.1:{port}", "  default_backend django",
            "backend django", "  balance roundrobin",
            *(f"  server web{i} {url.removeprefix('http://')}" for i, url in enumerate(backends)),
        ]  # fmt: skip
        config = Path(tempfile.mkdtemp()) / "haproxy.cfg"
        config.write_text("\n".join(lines) + "\n")
        proxy = subprocess.Popen(["haproxy", "-f", str(config), "-db"], stdout=subprocess.DEVNULL)
        try:
            wait_for_port(port, proxy, what="haproxy", seconds=5)
            yield f"http://127.0.0.1:{port}"
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
