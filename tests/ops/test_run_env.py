"""`make run`'s commands reach its own services: scripts/run.py writes `.run/env` (the embedded Redis's
random port above all) and manage.py reads it while that run is alive, never over the environment."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
# What the shell of someone trying the service has: none of the service's own variables.
SERVICE_VARIABLES = ("DJANGO_SETTINGS_MODULE", "DEBUG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY")


def import_script(name: str):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "scripts"))


@pytest.fixture
def make_run(tmp_path, monkeypatch):
    """A checkout whose `make run` is up: its embedded Redis started as run.py starts it and its
    `.run/env` written, with a copy of manage.py reading that checkout's `.run`."""
    run = import_script("run")
    monkeypatch.setattr(run, "RUN_DIR", tmp_path / ".run")
    monkeypatch.setattr(run, "COMMAND_ENV_FILE", tmp_path / ".run" / "env")
    (tmp_path / ".run").mkdir()
    process, url = run.start_embedded_redis()
    env = run.development_env({"PATH": os.environ["PATH"]})
    env["REDIS_URL"] = url
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    run.write_command_env(env)
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    try:
        yield tmp_path, redis.Redis.from_url(url, decode_responses=True)
    finally:
        process.terminate()
        process.wait(timeout=10)


def manage(checkout: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(checkout / "manage.py"), "shell", "-c", code],
        env=environment, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


WRITE_A_KEY = "from apps.common.redis import get_redis; get_redis().set('probe', 'from a command')"


def test_a_command_talks_to_the_embedded_redis(make_run):
    checkout, embedded = make_run
    result = manage(checkout, WRITE_A_KEY)
    assert result.returncode == 0, result.stderr
    assert embedded.get("probe") == "from a command"


def test_the_embedded_redis_keeps_an_append_only_file(make_run):
    _, embedded = make_run
    assert embedded.config_get("appendonly") == {"appendonly": "yes"}
    assert embedded.config_get("appendfsync") == {"appendfsync": "everysec"}


def test_the_environment_wins_over_the_file(make_run):
    checkout, _ = make_run
    result = manage(
        checkout, "from django.conf import settings; print(settings.REDIS_URL)", REDIS_URL="redis://elsewhere:1/0"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "redis://elsewhere:1/0"


def test_a_file_left_by_a_run_that_is_gone_is_ignored(make_run):
    checkout, embedded = make_run
    env_file = checkout / ".run" / "env"
    child = subprocess.Popen(["true"])
    child.wait()  # a pid that no longer runs
    lines = env_file.read_text().splitlines()
    env_file.write_text("\n".join([f"RUN_PID={child.pid}", *lines[1:]]) + "\n")
    result = manage(checkout, "from django.conf import settings; print(settings.REDIS_URL)", DEBUG="True")
    assert result.returncode == 0, result.stderr
    port = embedded.connection_pool.connection_kwargs["port"]
    assert f":{port}/" not in result.stdout
