"""The rush's fault harness (scripts/faults.py): servers of its own that it may crash and restart, the
injector and the prober that measures recovery. The shared MariaDB and Redis are never touched."""

import http.server
import threading
import time

import MySQLdb
import pytest
from django.test import override_settings

from scripts.faults import FaultInjector, OwnMariaDB, OwnRedis, PlannedFault, Prober, fault_report, rush_schedule
from tests.helpers import forget_redis_clients
from tests.queue.helpers import enter, fill_capacity, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def date():
    from tests.factories import make_date

    return make_date()


@pytest.fixture
def own_durable_redis():
    with OwnRedis() as server:
        forget_redis_clients()
        with override_settings(REDIS_URL=server.url):
            yield server
        forget_redis_clients()


def test_buyers_waiting_before_a_redis_crash_keep_their_order(own_durable_redis, date, settings):
    from apps.common.redis import get_redis

    config = get_redis().config_get("append*")
    assert (config["appendonly"], config["appendfsync"]) == ("yes", "everysec")
    fill_capacity(date, settings)
    buyers = range(1, 31)
    before = {uid: enter(uid, date).position for uid in buyers}
    assert sorted(before.values()) == list(range(1, 31))
    time.sleep(2.5)  # past the one second an everysec fsync may leave unwritten
    own_durable_redis.restart()  # SIGKILL, then start on the same port and directory
    forget_redis_clients()
    assert {uid: status(uid, date).position for uid in buyers} == before


def test_a_crashed_mariadb_of_its_own_comes_back_with_its_commits():
    with OwnMariaDB() as server:

        def connect():
            return MySQLdb.connect(host="127.0.0.1", port=server.port, user="root", passwd="")

        connection = connect()
        cursor = connection.cursor()
        cursor.execute("CREATE DATABASE faults")
        cursor.execute("CREATE TABLE faults.t (id INT PRIMARY KEY) ENGINE=InnoDB")
        cursor.execute("INSERT INTO faults.t VALUES (1), (2)")
        connection.commit()
        connection.close()
        server.restart(sig=9)  # a crash: InnoDB recovers the committed rows
        connection = connect()
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM faults.t")
        assert cursor.fetchone() == (2,)
        connection.close()


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.server.healthy.is_set() else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_injector_runs_the_schedule_and_the_report_measures_recovery():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    server.healthy = threading.Event()
    server.healthy.set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    back = threading.Event()

    def outage():  # down for a moment; the action returns at once, like a kill
        server.healthy.clear()
        threading.Timer(0.5, lambda: (server.healthy.set(), back.set())).start()

    never = []
    prober = Prober(f"http://127.0.0.1:{server.server_port}", every=0.05)
    prober.start()
    now = time.time()
    injector = FaultInjector(
        schedule=[PlannedFault(now + 0.2, "outage"), PlannedFault(now + 1.5, "broken")],
        actions={"outage": outage, "broken": lambda: never.append(1 / 0)},
    )
    injector.start()
    injector.join(10)
    assert back.wait(5)
    time.sleep(0.3)  # a few good probes after the outage
    prober.stopped.set()
    prober.join(5)
    server.shutdown()

    rows, breaches = fault_report(injector.faults, prober.samples)
    (outage_name, _, failed, recovered), (broken_name, *_) = rows
    assert (outage_name, broken_name) == ("outage", "broken")
    assert failed >= 1 and recovered is not None and recovered >= 0.5
    assert breaches == [f"broken at +{injector.faults[1].started - injector.faults[0].started:.0f} s failed: "
                        "ZeroDivisionError('division by zero')"]  # fmt: skip


def test_the_rush_schedule_is_issue_28s():
    plan = rush_schedule(opens_at=0, sale_seconds=240)
    names = [(fault.at, fault.name) for fault in plan]
    assert [at for at, name in names if name == "kill_web_worker"] == list(range(20, 240, 20))
    assert (60, "kill_booking_worker") in names and (90, "start_booking_worker") in names
    assert (80, "restart_redis") in names and (160, "restart_mariadb") in names


def test_an_injector_refuses_a_fault_it_has_no_action_for():
    with pytest.raises(ValueError, match="restart_redis"):
        FaultInjector(schedule=[PlannedFault(0, "restart_redis")], actions={})
