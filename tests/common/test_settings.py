import base64
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    unset = ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "TICKET_SIGNING_KEY")
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(env, DJANGO_SETTINGS_MODULE="ticketing.settings.base")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        env=environment, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


TICKET_KEY = base64.b64encode(os.urandom(32)).decode()


def test_production_starts_with_a_secret_key_and_a_ticket_signing_key():
    result = load_settings(
        DEBUG="False", SECRET_KEY="a-long-random-production-secret-" * 2, TICKET_SIGNING_KEY=TICKET_KEY
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_defaults_to_off():
    result = load_settings(SECRET_KEY="a-long-random-production-secret-" * 2, TICKET_SIGNING_KEY=TICKET_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_refuses_to_start_without_a_ticket_signing_key():
    result = load_settings(DEBUG="False", SECRET_KEY="a-long-random-production-secret-" * 2)
    assert result.returncode != 0
    assert "TICKET_SIGNING_KEY must be set when DEBUG is off" in result.stderr


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    # (The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is a deploy error of its own.)
    unset = ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "TICKET_SIGNING_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment.update(
        env, DJANGO_SETTINGS_MODULE="ticketing.settings.base", DEBUG="False", ALLOWED_HOSTS="tickets.example.com",
        SECRET_KEY="a-long-random-production-secret-" * 2,
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=environment, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip


def test_check_deploy_passes_with_a_ticket_signing_key():
    """What the Makefile's check line runs."""
    result = check_deploy(TICKET_SIGNING_KEY=TICKET_KEY)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_says_why_without_a_ticket_signing_key():
    result = check_deploy()
    assert result.returncode != 0
    assert "TICKET_SIGNING_KEY must be set when DEBUG is off" in result.stderr


def test_check_deploy_says_what_is_wrong_with_a_malformed_ticket_signing_key():
    result = check_deploy(TICKET_SIGNING_KEY=base64.b64encode(b"sixteen byte key").decode())
    assert result.returncode != 0
    assert "tickets.E001" in result.stderr and "32 bytes, not 16" in result.stderr


def test_production_refuses_the_published_development_key():
    from ticketing.settings.base import DEV_SECRET_KEY

    result = load_settings(SECRET_KEY=DEV_SECRET_KEY)
    assert result.returncode != 0
    assert "published development key" in result.stderr


def test_development_mode_starts_with_the_development_key():
    result = load_settings(DEBUG="True")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_make_run_turns_development_mode_on(monkeypatch):
    """scripts/run.py runs every process (migrate, the demo data, the Procfile) with DEBUG on unless told otherwise."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.delenv("DEBUG", raising=False)
    assert run.development_env({"PATH": "/usr/bin"})["DEBUG"] == "True"
    assert run.development_env({"DEBUG": "False"})["DEBUG"] == "False"


def test_make_run_makes_a_development_ticket_key_once_and_keeps_it(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    key = run.development_ticket_key(tmp_path)
    assert len(base64.b64decode(key, validate=True)) == 32
    assert run.development_ticket_key(tmp_path) == key
    assert (tmp_path / "ticket-signing-key").stat().st_mode & 0o077 == 0
