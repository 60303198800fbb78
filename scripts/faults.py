"""Faults for the rush: servers of the run's own that it may kill and restart, the injector that does it
on a schedule, and a prober that measures how long the service takes to answer again after each fault.

The machine's MariaDB (3306) and Redis (6379) serve other people's work, so a fault run never touches
them: it starts its own redis-server (append-only file, fsync every second, as deployed) and its own
mariadbd (a fresh datadir from mariadb-install-db, root without a password, loopback only), each on a
free port, and restarts only those.

    with OwnRedis() as redis_server, OwnMariaDB() as database:
        env = {..., "REDIS_URL": redis_server.url, "DATABASE_URL": database.url("bench_rush")}
        injector = FaultInjector(schedule=rush_schedule(opens_at=..., sale_seconds=...), actions={...})
        prober = Prober(base_url)
        ...
        print_fault_report(injector.faults, prober.samples)

The schedule of issue 28: SIGKILL one gunicorn worker every 20 s, the booking Celery worker killed at the
opening + 60 s and started again 30 s later, Redis restarted once and MariaDB once in the middle of
the sale.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.ports import free_port, wait_for_port

WORKER_KILL_EVERY_SECONDS = 20
CELERY_DOWN_AT_SECONDS, CELERY_DOWN_FOR_SECONDS = 60, 30
RECOVERY_BUDGET_SECONDS = 10  # the service answers again within this of each fault
PROBE_TIMEOUT_SECONDS = 30.0


# --- Servers of the run's own ------------------------------------------------------------------------


class OwnRedis:
    """A redis-server of the run's own with the deployed durability: `appendonly yes`,
    `appendfsync everysec` (a crash loses at most the last second's writes)."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("redis-server") or "redis-server"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
             "--logfile", str(self.dir / "redis.log")],
        )  # fmt: skip
        wait_for_port(self.port, self.process, what="redis-server", seconds=60)

    def crash(self) -> None:
        """SIGKILL: no shutdown save, what a crashed host does."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)
            self.process = None

    def restart(self) -> None:
        self.crash()
        self.start()

    def __enter__(self) -> OwnRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnMariaDB:
    """A mariadbd of the run's own: a fresh datadir, root without a password, TCP on a free loopback
    port (its socket in the datadir). Restarted with SIGTERM (a clean shutdown) or SIGKILL (a crash:
    InnoDB recovers from its redo log on the next start)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-mariadb-"))
        self.datadir = self.dir / "data"
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"mysql://root:@127.0.0.1:{self.port}/{database}"

    def install(self) -> None:
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--auth-root-authentication-method=normal",
             "--skip-test-db", f"--user={os.environ.get('USER') or 'root'}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--socket={self.dir / 'mysqld.sock'}", f"--pid-file={self.dir / 'mysqld.pid'}",
             f"--log-error={self.dir / 'error.log'}", "--user=root", "--skip-name-resolve",
             "--innodb-buffer-pool-size=256M", "--max-connections=500", "--character-set-server=utf8mb4",
             "--collation-server=utf8mb4_unicode_ci", "--transaction-isolation=READ-COMMITTED"],
        )  # fmt: skip
        wait_for_port(self.port, self.process, what="mariadbd", seconds=60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            self.process.wait(60)
            self.process = None

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def __enter__(self) -> OwnMariaDB:
        self.install()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- The injector ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFault:
    at: float  # epoch seconds
    name: str  # a key of the injector's actions: "kill_web_worker", "kill_booking_worker", ...


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0  # when the injector's action returned (a restart: the server is back up)
    error: str = ""


def rush_schedule(*, opens_at: float, sale_seconds: float) -> list[PlannedFault]:
    """Issue 28's faults for a sale that opens at `opens_at` and is expected to last `sale_seconds`: a
    gunicorn worker every 20 s from the opening, the booking worker down from +60 s for 30 s (both
    scaled into a short sale), Redis at a third of the sale and MariaDB at two thirds."""
    plan = [
        PlannedFault(opens_at + t, "kill_web_worker")
        for t in range(WORKER_KILL_EVERY_SECONDS, int(sale_seconds), WORKER_KILL_EVERY_SECONDS)
    ]
    celery_down = min(CELERY_DOWN_AT_SECONDS, sale_seconds / 4)
    plan.append(PlannedFault(opens_at + celery_down, "kill_booking_worker"))
    plan.append(
        PlannedFault(opens_at + celery_down + min(CELERY_DOWN_FOR_SECONDS, sale_seconds / 8), "start_booking_worker")
    )
    plan.append(PlannedFault(opens_at + sale_seconds / 3, "restart_redis"))
    plan.append(PlannedFault(opens_at + 2 * sale_seconds / 3, "restart_mariadb"))
    return sorted(plan, key=lambda fault: fault.at)


class FaultInjector(threading.Thread):
    """Runs each planned fault's action at its time; records when it started and ended."""

    def __init__(self, *, schedule: list[PlannedFault], actions: dict[str, Callable[[], object]]) -> None:
        super().__init__(daemon=True, name="fault-injector")
        unknown = {fault.name for fault in schedule} - set(actions)
        if unknown:
            raise ValueError(f"no action for {sorted(unknown)}")
        self.schedule, self.actions = schedule, actions
        self.faults: list[Fault] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        for planned in self.schedule:
            if self.stopped.wait(max(0.0, planned.at - time.time())):
                return
            fault = Fault(planned.name, started=time.time())
            try:
                self.actions[planned.name]()
            except Exception as exc:
                fault.error = repr(exc)
            fault.ended = time.time()
            self.faults.append(fault)


def kill_one_worker(master_pid: int) -> int | None:
    """SIGKILL one worker of the gunicorn master `master_pid` (the oldest); its pid, or None."""
    import psutil

    children = sorted(psutil.Process(master_pid).children(), key=lambda child: child.create_time())
    if not children:
        return None
    children[0].send_signal(signal.SIGKILL)
    return children[0].pid


# --- The prober --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    ok: bool
    status: int  # 0: a connection error


class Prober(threading.Thread):
    """Asks `GET <base>/api/health/ready` every `every` seconds and records whether it answered 200.
    Probes run side by side (a few threads): under load a web tier queues requests for seconds, and a
    probe that is answered late still says the service took it at the time it was sent."""

    def __init__(self, base_url: str, *, every: float = 0.25, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
        super().__init__(daemon=True, name="fault-prober")
        self.base_url, self.every, self.timeout = base_url, every, timeout
        self.samples: list[Sample] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=int(self.timeout / self.every) + 1) as pool:
            futures = []
            while not self.stopped.wait(self.every):
                futures.append(pool.submit(probe, self.base_url, self.timeout))
            self.samples = sorted((future.result() for future in futures), key=lambda sample: sample.at)


def probe(base_url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> Sample:
    at = time.time()
    try:
        with urllib.request.urlopen(f"{base_url}/api/health/ready", timeout=timeout) as response:
            return Sample(at, response.status == 200, response.status)
    except urllib.error.HTTPError as exc:
        return Sample(at, False, exc.code)
    except OSError:
        return Sample(at, False, 0)


def recovery_seconds(fault: Fault, samples: list[Sample]) -> float | None:
    """From the fault's start until the first good probe after it has ended; None if none came."""
    for sample in samples:
        if sample.at >= fault.ended and sample.ok:
            return sample.at - fault.started
    return None


def failed_probes(fault: Fault, samples: list[Sample], until: float) -> int:
    return sum(1 for sample in samples if fault.started <= sample.at < until and not sample.ok)


def fault_report(faults: list[Fault], samples: list[Sample]) -> tuple[list[list[object]], list[str]]:
    """Rows (fault, at, failed probes until the next fault, recovery seconds) and the breaches: a
    fault that failed to run, or a service that did not answer within RECOVERY_BUDGET_SECONDS."""
    rows, breaches = [], []
    t0 = faults[0].started if faults else 0.0
    for n, fault in enumerate(faults):
        until = faults[n + 1].started if n + 1 < len(faults) else float("inf")
        recovered = recovery_seconds(fault, samples)
        rows.append([fault.name, round(fault.started - t0, 1), failed_probes(fault, samples, until), recovered])
        if fault.error:
            breaches.append(f"{fault.name} at +{fault.started - t0:.0f} s failed: {fault.error}")
        elif recovered is None or recovered > RECOVERY_BUDGET_SECONDS:
            breaches.append(
                f"{fault.name} at +{fault.started - t0:.0f} s: no answer within {RECOVERY_BUDGET_SECONDS} s"
            )
    return rows, breaches


def print_fault_report(faults: list[Fault], samples: list[Sample]) -> list[str]:
    rows, breaches = fault_report(faults, samples)
    print(f"\n{'fault':<22}{'at (s)':>8}{'failed probes':>15}{'recovery (s)':>14}")
    for name, at, failed, recovered in rows:
        shown = "-" if recovered is None else f"{recovered:.1f}"
        print(f"{name:<22}{at:>8}{failed:>15}{shown:>14}")
    return breaches


# --- The rush's hooks --------------------------------------------------------------------------------


@contextmanager
def own_servers(enabled: bool) -> Iterator[tuple[dict[str, str], OwnRedis | None, OwnMariaDB | None]]:
    """For a fault run: the settings overrides that point the rush at servers of its own (and the servers);
    otherwise nothing changes."""
    if not enabled:
        yield {}, None, None
        return
    with OwnRedis() as redis_server, OwnMariaDB() as database:
        yield {"REDIS_URL": redis_server.url, "DATABASE_URL": database.url("bench_rush")}, redis_server, database


class RushFaults:
    """The faults of one rush: started at the opening, stopped (and reported) after the load."""

    def __init__(
        self, *, env: dict[str, str], celery_processes: list[subprocess.Popen], base_url: str,
        redis_server: OwnRedis, database: OwnMariaDB, opens_at: float, sale_seconds: float, cwd: Path,
    ) -> None:  # fmt: skip
        self.env, self.celery_processes, self.cwd = env, celery_processes, cwd
        self.injector = FaultInjector(
            schedule=rush_schedule(opens_at=opens_at, sale_seconds=sale_seconds),
            actions={
                "kill_web_worker": self.kill_web_worker,
                "kill_booking_worker": self.kill_booking_worker,
                "start_booking_worker": self.start_booking_worker,
                "restart_redis": redis_server.restart,
                "restart_mariadb": database.restart,
            },
        )
        self.prober = Prober(base_url)

    def start(self) -> RushFaults:
        self.prober.start()
        self.injector.start()
        return self

    def kill_web_worker(self) -> None:
        import psutil

        masters = [p for p in psutil.Process().children() if "gunicorn" in " ".join(p.cmdline())]
        if not masters or kill_one_worker(masters[0].pid) is None:
            raise RuntimeError("no gunicorn worker to kill")

    def kill_booking_worker(self) -> None:
        booking = self.celery_processes[0]  # rush.celery() starts the booking worker first
        booking.kill()
        booking.wait(30)

    def start_booking_worker(self) -> None:
        # In place, so that the rush's own clean-up stops the new process too.
        self.celery_processes[0] = subprocess.Popen(self.celery_processes[0].args, env=self.env, cwd=self.cwd)

    def finish(self) -> list[str]:
        """Stop injecting; print failed probes and recovery per fault; the breaches."""
        self.injector.stopped.set()
        self.injector.join(120)
        time.sleep(RECOVERY_BUDGET_SECONDS)  # the last fault's recovery is measured too
        self.prober.stopped.set()
        self.prober.join(10)
        return print_fault_report(self.injector.faults, self.prober.samples)
