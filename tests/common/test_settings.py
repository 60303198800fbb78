import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    environment.update(env, DJANGO_SETTINGS_MODULE="ticketing.settings.base")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        env=environment, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings(DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key():
    result = load_settings(DEBUG="False", SECRET_KEY="a-long-random-production-secret-" * 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_debug_defaults_to_off():
    result = load_settings(SECRET_KEY="a-long-random-production-secret-" * 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


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
