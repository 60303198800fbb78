"""What a DATABASE_URL needs installed before Django can use it, and installing it for `make run`.

SQLite needs nothing. MySQL/MariaDB needs mysqlclient (requirements-mysql.txt), which compiles against
the MariaDB/MySQL client headers: on a machine with apt-get they are installed
(scripts/ensure-mysql-build-deps.sh), elsewhere the run stops with one line saying what to install.
Any other database stops with one line too (the project ships only these two drivers).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Driver:
    module: str  # what `import` must find
    requirements: str  # the requirements file that installs it
    system_packages: str  # what to install by hand where apt-get is missing


MYSQL = Driver("MySQLdb", "requirements-mysql.txt", "the MariaDB/MySQL client headers and pkg-config")
SCHEMES = {"mysql": MYSQL, "mysql2": MYSQL, "mysqlgis": MYSQL, "mariadb": MYSQL, "sqlite": None, "spatialite": None}


class UnsupportedDatabase(Exception):
    pass


def driver_for(url: str) -> Driver | None:
    """The driver a DATABASE_URL needs (None: nothing beyond requirements.txt). Raises
    UnsupportedDatabase for a scheme the project has no driver for."""
    if not url:
        return None  # the settings' default: SQLite
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in SCHEMES:
        raise UnsupportedDatabase(scheme)
    return SCHEMES[scheme]


def installed(driver: Driver) -> bool:
    return importlib.util.find_spec(driver.module) is not None


def install_steps(driver: Driver, *, python: str, root: Path, apt_get: bool) -> list[list[str]] | None:
    """The commands that install `driver`, or None when this machine cannot do it unattended."""
    if not apt_get:
        return None
    return [
        ["env", f"PYTHON={python}", "bash", str(root / "scripts" / "ensure-mysql-build-deps.sh")],
        [python, "-m", "pip", "install", "--quiet", "-r", str(root / driver.requirements)],
    ]


def ensure_driver(url: str, *, python: str, root: Path) -> None:
    """Install what `url` needs, or exit with one clear line."""
    try:
        driver = driver_for(url)
    except UnsupportedDatabase as exc:
        sys.exit(
            f"make run: DATABASE_URL uses {exc}://, which this project has no driver for; use mysql:// or sqlite://"
        )
    if driver is None or installed(driver):
        return
    steps = install_steps(driver, python=python, root=root, apt_get=shutil.which("apt-get") is not None)
    if steps is None:
        sys.exit(
            f"make run: DATABASE_URL names MySQL/MariaDB; install {driver.system_packages}, "
            f"then run: {python} -m pip install -r {driver.requirements}"
        )
    print(f"DATABASE_URL names MySQL/MariaDB: installing {driver.requirements}", flush=True)
    for step in steps:
        if subprocess.run(step, cwd=root).returncode != 0:
            sys.exit(f"make run: `{' '.join(step)}` failed; fix that and run make run again")


def ensure_database(url: str) -> None:
    """`make run` on a MySQL/MariaDB server: create the URL's database when it does not exist yet
    (utf8mb4), or exit with one line when the server cannot be reached."""
    if driver_for(url) is not MYSQL:
        return
    import environ
    import MySQLdb

    config = environ.Env.db_url_config(url)
    name = config["NAME"]
    if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", name or ""):
        sys.exit(f"make run: {name!r} is not a database name this script will create; create it yourself")
    try:
        connection = MySQLdb.connect(
            host=config.get("HOST") or "127.0.0.1", port=int(config.get("PORT") or 3306),
            user=config.get("USER") or "root", password=config.get("PASSWORD") or "", connect_timeout=5,
        )  # fmt: skip
    except MySQLdb.Error as exc:
        sys.exit(f"make run: cannot reach the database server of DATABASE_URL: {exc}")
    try:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        connection.close()
