#!/usr/bin/env python
import os
import sys
from pathlib import Path

# `make run` (scripts/run.py) writes here what its commands need to reach its services: the embedded
# Redis listens on a random port. Read only while that run is alive, and never over the environment.
RUN_ENV_FILE = Path(__file__).resolve().parent / ".run" / "env"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_run_env(path: Path = RUN_ENV_FILE) -> dict[str, str]:
    """The variables of the running `make run`, or nothing (no file, or the run that wrote it is gone)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    pid = values.pop("RUN_PID", "")
    if not pid.isdigit() or not _process_alive(int(pid)):
        return {}
    return values


def main() -> None:
    run_env = read_run_env()
    # Another settings module (the test settings of `manage.py check`) is another service: leave it be.
    if os.environ.get("DJANGO_SETTINGS_MODULE", run_env.get("DJANGO_SETTINGS_MODULE")) == run_env.get(
        "DJANGO_SETTINGS_MODULE"
    ):
        for name, value in run_env.items():
            os.environ.setdefault(name, value)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
