"""The on-sale rush, end to end: Locust buyers (open model) against gunicorn + Celery workers + beat,
on MariaDB and Redis on this machine (loopback only, bounded in count and time).

    make rush                                  # the full scenario: 20,000 buyers, one date of 10,000 seats,
                                               # fixed (110 per 10 s) and auto admission side by side
    .venv/bin/python bench/rush.py --seats 50000          # the arena variant
    .venv/bin/python bench/rush.py --short     # what `make bench` runs: scaled down, auto only, < 3 min

The scenario: every buyer is funded; 95 % hold tokens issued before the run (logged in at times spread
over the 15 minutes before each one arrives, so their access tokens expire and refresh at spread times),
5 % log in during it. 60 % arrive during the pre-queue window before the opening, 40 % over the window
after it (the pre-queue window is compressed by --time-scale; the window after the opening is not, so the
server sees at least the real arrival rate). Buyers poll as the server says (dropping idle connections
during long waits), read the layout, hold 1-4 seats with best available (--best-available-share) or by
picking adjacent seats on the map, wait for held seats to come back when none is free, 15 % abandon the
hold and the rest pay. Client timeouts and transport errors are failures.

At the end, per admission mode, the run is judged by gates (scripts/rush_gates.py), each printed with its
figure and PASS, FAIL or NOT TESTED; any FAIL fails the run (exit status 1):
- correctness: check_invariants; seats sold = confirmed items; money conserved to the cent; every
  abandoned hold released; no 5xx but 503 (with Retry-After); no client timeout; admission in line order;
- speed: time to 99 % sold (--sellout-slo), p99 of every endpoint but login after the opening's first
  30 s (--p99-slo), peak seats per minute (full run), the booking path's p95 per 5 s window, server CPU
  per seat sold (every server process; the load generator's reported apart);
- buyers: those not served while seats remained, 503s, SEAT_UNAVAILABLE refusals and hold attempts per
  paid order, the line told SOLD_OUT after the last seat and its polls falling off;
- the draw (from 200 pre-queued buyers): drawn place independent of arrival (Spearman rank correlation,
  chi-square over deciles), nobody pre-queued behind a later arrival, the published draw verified from
  its two public URLs and its keys uniform.
It prints per-endpoint p50/p95/p99 and statuses, seats sold per minute, admissions per minute, CPU per
process (the load generator's CPU per buyer and per request included) and writes CSV and plots to
bench/out/rush/.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.queue import draw as public_draw
from bench.scratch import ROOT, scratch_django
from scripts import faults, loadgen_results, rush_gates
from scripts.local_servers import VENV_BIN, web_tier
from scripts.ports import raise_open_files_limit
from scripts.rush_gates import DrawFigures, RushFigures, Slo, percentile

OUT = ROOT / "bench" / "out" / "rush"
WALLET = Decimal("10000000.00")
PASSWORD = "load-test-pass-1"
# Sections from the stage back: the dearer the section, the more buyers want it.
SECTION_PRICES = ["180000.00", "150000.00", "120000.00", "100000.00", "90000.00", "70000.00", "50000.00", "30000.00"]


# The short run's holds last 12 s. Its gate is 99 % of 600 seats sold within 60 s: the last 1 % is 6 seats,
# and with 15 % of buyers walking away from their holds, abandoned seats come back and are abandoned again
# in waves (90, ~13, ~2 seats) one hold lifetime apart, so 99 % waits for the third wave whatever the
# service's speed. With 20 s holds that was the whole 60 s (bench/sellout_model.py --seats 600 --hold-ttl
# 20: 59-62 s at every rate from 50 to 500 seats held a second, a coin toss); with 12 s it is 43-53 s for a
# fast service and 66-90 s for one that holds 10-15 seats a second, so the gate judges the service.
SHORT_HOLD_TTL = 12


@dataclass
class Scenario:
    buyers: int
    seats: int
    prequeue_seconds: float  # real-time length of the pre-queue arrival window
    after_seconds: float  # arrivals after the opening (not compressed)
    time_scale: float
    prequeue_share: float = 0.6
    login_share: float = 0.05
    abandon: float = 0.15
    hold_ttl: int = 60
    budget: int = 900
    think_choose: tuple[float, float] = (2.0, 6.0)
    think_pay: tuple[float, float] = (2.0, 5.0)
    seed: int = 20261125
    web_servers: int = 1
    celery_workers: int = 1
    web_workers: int = 5  # gunicorn.conf.py's default on 2 cores: 2 x cores + 1
    crowd_workers: int = 3  # behind nginx: the line's own gunicorn workers (logins, refreshes, entries, polls)
    crowd_server: str = "granian"  # the crowd tier as deployed (scripts/crowd_server.py), or "gunicorn" (sync)
    web_server: str = "gunicorn"  # or "granian": the booking tier (everything but the line) on Granian
    push_workers: int = 2  # behind nginx: the push process's workers (the line's event streams); 0: none
    proxy: str | None = None  # "nginx": buyers reach gunicorn through deploy/nginx (scripts/nginx.py)
    faults: bool = False  # scripts/faults.py: own Redis and MariaDB, crashed and restarted during the sale
    best_available_share: float = 0.7
    login_spread_seconds: float = 900.0  # buyers logged in up to this long before they arrive
    slo: Slo = field(default_factory=Slo.full)
    db_name: str = "bench_rush"
    redis_db: int = 11
    profile_loadgen: bool = False
    # The buyers split over this many Locust processes, each with every n-th buyer (its own loop, so the
    # opening's work is not queued behind one process's).
    loadgen_processes: int = 1
    # Python's automatic full collections in the load generator (off by default: bench/rush_locust.py).
    loadgen_full_gc: bool = False
    # Auto admission's bound on admitted buyers per date (QUEUE_MAX_ACTIVE; the controller moves below it).
    # None: the product's default of 660, a date of a few thousand seats. A date of 10,000 seats selling
    # at 100 a second has ~500 buyers between admission and payment and, at 15 % abandoning, ~900 whose
    # abandoned hold keeps their place until QUEUE_ACTIVE_IDLE_SECONDS: an operator bounds it at seats ÷ 5.
    max_active: int | None = None

    @property
    def lead(self) -> float:
        """Seconds from the first arrival to the opening."""
        return self.prequeue_seconds * self.time_scale


@dataclass
class Outcome:
    mode: str
    scenario: Scenario
    opens_at: float = 0.0  # seconds since t0
    t0_epoch: float = 0.0  # t0, epoch seconds
    result: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, float]] = field(default_factory=list)
    scores: dict[int, float] = field(default_factory=dict)  # user id -> score in the waiting line
    # The admission controller's decisions (auto), by the ms they were taken: the line sampler reads the
    # newest few every second (the date keeps its last 20).
    decisions: dict[int, dict[str, Any]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    # Each second: (seconds since t0, {finer group: CPU seconds so far}), the web tier split into its crowd and
    # booking tiers and the load generator included, to see where the CPU goes while the sale runs.
    cpu_timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    wall: float = 0.0
    db: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # correctness checks that failed
    figures: dict[str, Any] = field(default_factory=dict)
    gates: list[rush_gates.Gate] = field(default_factory=list)
    draw: dict[str, Any] = field(default_factory=dict)  # the published draw: {"draw": ..., "order": [...]}
    # (route, method) -> (requests, mean ms, p95 ms, mean CPU ms): the time Django spent on them inside
    # the workers and the CPU it took, from the service's own metrics; the client's latency minus the
    # time is time queued for a worker.
    service: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)
    # Celery task name -> (runs, mean ms, mean CPU ms), from the workers' metrics the same way.
    tasks: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # Behind nginx: the booking path's latencies (ms) by window as the proxy saw them (its access log).
    proxy_booking: dict[float, list[float]] = field(default_factory=dict)


# --- the data ---------------------------------------------------------------------------------------


def sectioned_layout(seats: int) -> list[dict[str, Any]]:
    """Eight sections of about equal size in rows of 50, dearest first; what does not fill a row of 50
    sits in one last row of boxes (at most 399 seats, the cheapest)."""
    rows = max(1, seats // len(SECTION_PRICES) // 50)
    per_row = min(50, seats // len(SECTION_PRICES)) or 1
    layout = [
        {"name": f"Section {chr(65 + i)}", "rows": rows, "seats_per_row": per_row, "price": price}
        for i, price in enumerate(SECTION_PRICES)
    ]
    rest = seats - len(SECTION_PRICES) * rows * per_row
    if rest:
        layout.append({"name": "Boxes", "rows": 1, "seats_per_row": rest, "price": "20000.00"})
    return layout


def seed(scenario: Scenario) -> dict[str, Any]:
    """The date (its opening is set later, by open_booking_at), the funded buyers and their tokens.

    Real buyers log in over the minutes before they come to the sale, so their access tokens expire at
    spread times: each token is issued as if its buyer had logged in up to `login_spread_seconds` before
    arriving (never later than now), assuming the run starts about now."""
    import datetime as dt

    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.accounts.services import issue_tokens
    from apps.concerts import services

    call_command("seed_load_users", "--users", str(scenario.buyers), "--balance", str(WALLET), verbosity=0)  # fmt: skip
    venue = services.create_venue(name="Rush Arena", address="Loopback", layout=sectioned_layout(scenario.seats))
    concert = services.create_concert(venue=venue, name="Rush", artist="Load Generator")
    concert_date = services.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=30),
        booking_opens_at=timezone.now() + dt.timedelta(days=1), batch_size=5000,
    )  # fmt: skip
    users = list(User.objects.filter(email__startswith="load", email__endswith="@example.com").order_by("pk"))
    rng = random.Random(scenario.seed)
    buyers = [{"user_id": user.pk, "email": user.email} for user in users[: scenario.buyers]]
    rng.shuffle(buyers)  # the order of arrival
    by_id = {user.pk: user for user in users}
    logged_in = []
    for buyer, arrives in zip(buyers, arrivals(scenario), strict=False):
        if rng.random() >= scenario.login_share:
            age = max(0.0, rng.uniform(0, scenario.login_spread_seconds) - arrives)  # how long ago, from now
            logged_in.append((buyer, by_id[buyer["user_id"]], age))

    def log_in(item: tuple[dict[str, Any], Any, float]) -> None:
        buyer, user, age = item
        try:
            with issued_ago(age):
                buyer.update(issue_tokens(user=user))
        finally:
            connections.close_all()

    # Each session is one committed row: eight threads keep the commits' fsyncs from adding up.
    with ThreadPoolExecutor(8) as pool, backdated_tokens():
        list(pool.map(log_in, logged_in))
    return {"concert_id": concert.pk, "date_id": concert_date.pk, "buyers": buyers}


_token_age = threading.local()


@contextmanager
def backdated_tokens() -> Any:
    """simplejwt stamps a token's issue and expiry times from `aware_utcnow`; for the block, read it
    minus this thread's `issued_ago` age."""
    import datetime as dt

    from rest_framework_simplejwt import tokens

    real = tokens.aware_utcnow
    tokens.aware_utcnow = lambda: real() - dt.timedelta(seconds=getattr(_token_age, "seconds", 0.0))
    try:
        yield
    finally:
        tokens.aware_utcnow = real


@contextmanager
def issued_ago(seconds: float) -> Any:
    _token_age.seconds = seconds
    try:
        yield
    finally:
        _token_age.seconds = 0.0


def arrivals(scenario: Scenario) -> list[float]:
    """Arrival offsets from t0: the pre-queue share spread over the compressed pre-queue window, the
    rest over the window after the opening."""
    rng = random.Random(scenario.seed + 1)
    early = round(scenario.buyers * scenario.prequeue_share)
    times = [rng.uniform(0, scenario.lead * 0.98) for _ in range(early)]
    times += [scenario.lead + rng.uniform(0, scenario.after_seconds) for _ in range(scenario.buyers - early)]
    return sorted(times)


# --- the processes ----------------------------------------------------------------------------------


@contextmanager
def celery(env: dict[str, str], workers: int) -> Any:
    """Beat, one worker per `workers` for the booking queue and one for the rest (e-mail)."""
    command = [str(VENV_BIN / "celery"), "-A", "ticketing"]
    processes = [
        subprocess.Popen(
            [*command, "worker", "-Q", "booking", "-c", "1", "-n", f"rush-booking{i}@%h", "--loglevel", "WARNING"],
            env=env,
            cwd=ROOT,
        )
        for i in range(workers)
    ]
    processes.append(subprocess.Popen([*command, "worker", "-Q", "default,email", "-c", "1", "-n", "rush-mail@%h",
                                       "--loglevel", "WARNING"], env=env, cwd=ROOT))  # fmt: skip
    processes.append(subprocess.Popen([*command, "beat", "--schedule", str(OUT / "celerybeat-schedule"),
                                       "--loglevel", "WARNING"], env=env, cwd=ROOT))  # fmt: skip
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


class Sampler(threading.Thread):
    """Once a second: the line's length and admitted count in Redis, each waiter's score the first time it
    is seen (the server's order of the line), and the CPU time of every process of the run."""

    def __init__(self, outcome: Outcome, date_id: int, t0: float) -> None:
        super().__init__(daemon=True)
        self.outcome, self.date_id, self.t0 = outcome, date_id, t0
        self.stopped = threading.Event()
        # pid -> (group, CPU seconds at its first and at its last sample), the web tier's processes by tier
        # (`finer_group`); processes that start during the run count from 0, those already running from
        # the first sample.
        self.cpu_first: dict[int, tuple[str, float]] = {}
        self.cpu_last: dict[int, tuple[str, float]] = {}
        self.busy: tuple[float, float] | None = None
        self.busy_share = 0.0  # the machine's CPU busy over the last sample, a share of its cores
        self.busy_at: tuple[float, float] | None = None  # (wall, busy CPU-s) at the last sample

    def run(self) -> None:
        from redis.exceptions import RedisError

        from apps.common.redis import get_redis
        from apps.queue.keys import QueueKeys

        keys, redis = QueueKeys(self.date_id), get_redis()
        self.cpu_sample()
        highest, tick = float("-inf"), 0
        while not self.stopped.wait(1.0):
            try:
                highest, tick = self.line_sample(redis, keys, highest, tick)
            except RedisError:  # Redis restarted under --faults: this second has no line sample, CPU still counts
                tick += 1
            self.cpu_sample()
        self.cpu_sample()
        self.outcome.cpu = self.cpu_totals()

    def line_sample(self, redis: Any, keys: Any, highest: float, tick: int) -> tuple[float, int]:
        """One second's sample of the line; returns the highest score seen and the next tick."""
        # The line's newcomers (a place behind everyone seen so far) every second, the whole line every
        # 15 s: reading 20,000 members each second would cost Redis, whose CPU the run charges the server.
        if tick % 15 == 0:
            waiting = redis.zrange(keys.waiting, 0, -1, withscores=True)
        else:
            waiting = redis.zrangebyscore(keys.waiting, f"({highest}", "+inf", withscores=True)
        tick += 1
        for member, score in waiting:
            self.outcome.scores.setdefault(int(member), score)
            highest = max(highest, score)
        for raw in redis.lrange(keys.decisions, 0, 4):
            decision = json.loads(raw)
            self.outcome.decisions.setdefault(decision["at"], decision)
        self.outcome.samples.append({"t": time.time() - self.t0, "waiting": redis.zcard(keys.waiting),
                                     "prequeue": redis.scard(keys.prequeue),
                                     "active": redis.zcard(keys.active),
                                     "machine_cpu": self.busy_share})  # fmt: skip
        return highest, tick

    def cpu_sample(self) -> None:
        """Every second, each process's CPU time so far: a process that ends during the run (gunicorn
        recycles its workers, Celery its children) keeps what it used up to its last sample."""
        import psutil

        # The run's own processes, and the shared servers (MariaDB and Redis serve this run alone only on
        # a machine nobody else uses: the report shows what the rest of the machine took).
        ours = {child.pid for child in psutil.Process().children(recursive=True)}
        for process in psutil.process_iter(["pid", "name", "cmdline"]):
            try:
                if process.pid not in ours and process.info["name"] not in SHARED_SERVERS:
                    continue
                cmdline = " ".join(process.info["cmdline"] or [])
                group = process_group(process.info["name"] or "", cmdline)
                if group is None:
                    if "locust" not in cmdline:
                        continue
                    group = LOCUST
                group = finer_group(group, cmdline)
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            used = times.user + times.system
            first = self.cpu_first.setdefault(process.pid, (group, used if self.busy is None else 0.0))
            self.cpu_last[process.pid] = (first[0], used)
        self.outcome.cpu_timeline.append((time.time() - self.t0, self.used_by_group()))
        times = psutil.cpu_times()
        busy = times.user + times.nice + times.system + times.irq + times.softirq + times.steal
        self.busy = (self.busy[0] if self.busy else busy, busy)
        now = time.monotonic()
        if self.busy_at is not None and now > self.busy_at[0]:
            self.busy_share = (busy - self.busy_at[1]) / (now - self.busy_at[0]) / (psutil.cpu_count() or 1)
        self.busy_at = (now, busy)

    def used_by_group(self) -> dict[str, float]:
        """The CPU seconds each group's processes used since their first sample."""
        used: dict[str, float] = defaultdict(float)
        for pid, (group, last) in self.cpu_last.items():
            used[group] += last - self.cpu_first[pid][1]
        return dict(used)

    def cpu_totals(self) -> dict[str, float]:
        """The run's CPU by group, the web tier's tiers together, the load generator left out (counted
        apart, from its own reaped children: run_mode)."""
        totals: dict[str, float] = defaultdict(float)
        for group, seconds in self.used_by_group().items():
            if group != LOCUST:
                totals[WEB_TIER if group in WEB_TIERS else group] += seconds
        totals["everything else on the machine"] = max(0.0, self.busy[1] - self.busy[0] - sum(totals.values()))
        return dict(totals)


SHARED_SERVERS = ("mariadbd", "mysqld", "redis-server")
LOCUST = "load generator (Locust)"
WEB_TIER = "gunicorn"  # the web tier as a whole, in the run's totals
CROWD_TIER, BOOKING_TIER = "web: crowd tier", "web: booking tier"
WEB_TIERS = (CROWD_TIER, BOOKING_TIER)


def finer_group(group: str, cmdline: str) -> str:
    """The web tier split into the crowd's processes (the line's requests) and the booking tier's."""
    if group != WEB_TIER:
        return group
    return CROWD_TIER if "crowd_server" in cmdline else BOOKING_TIER


def process_group(name: str, cmdline: str) -> str | None:
    if "push_server" in cmdline:
        return "push"
    if "gunicorn" in cmdline or "granian" in cmdline or "crowd_server" in cmdline:
        return WEB_TIER  # the web tier: gunicorn, and Granian where a tier runs on it
    if "celery" in cmdline and " beat" in cmdline:
        return "celery beat"
    if "celery" in cmdline:
        return "celery workers"
    if name in ("mariadbd", "mysqld"):
        return "MariaDB"
    if name == "redis-server":
        return "Redis"
    if name in ("haproxy", "nginx"):
        return name
    return None


def run_locust(
    plan_path: Path,
    result_path: Path,
    base: str,
    budget: float,
    profile: Path | None = None,
    processes: int = 1,
    full_gc: bool = False,
) -> float:
    """Run the buyers over `processes` Locust processes (each takes every n-th buyer of the plan and
    writes its own result; they are merged into `result_path`); returns the CPU seconds the load
    generator used. Locust's own CSV files are not written: the buyers record what the run needs
    (bench/rush_locust.py), and the history costs CPU. With `profile`, Locust runs under cProfile (which
    slows it) and writes its statistics there (the first process's)."""
    # The server is an IP literal: resolve it in line rather than hand each new connection's getaddrinfo
    # to gevent's thread pool (~100 µs of CPU a connection against ~14, and gunicorn's sync workers close
    # every connection).
    parts = [result_path.with_name(f"{result_path.stem}.part{i}.json") for i in range(processes)]
    command = [str(VENV_BIN / "locust"), "-f", str(ROOT / "bench" / "rush_locust.py"), "--headless",
               "--host", base, "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "5"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = []
    for i, part in enumerate(parts):
        part.unlink(missing_ok=True)
        env = {**os.environ, "RUSH_PLAN": str(plan_path), "RUSH_RESULT": str(part), "GEVENT_RESOLVER": "block",
               "RUSH_PART": str(i), "RUSH_PARTS": str(processes),
               **({"RUSH_PROFILE": str(profile)} if profile and i == 0 else {}),
               **({"RUSH_FULL_GC": "1"} if full_gc else {})}  # fmt: skip
        running.append(subprocess.Popen(command, env=env, cwd=ROOT))
    for process in running:
        try:
            process.wait(timeout=budget + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not all(part.exists() for part in parts):
        raise RuntimeError("a Locust process wrote no result")
    merged = loadgen_results.merge([json.loads(part.read_text()) for part in parts])
    result_path.write_text(json.dumps(merged))
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# --- one mode ---------------------------------------------------------------------------------------


def run_mode(mode: str, scenario: Scenario) -> Outcome:
    """One run of the scenario. `mode` is the admission mode, with "+nginx" when the buyers reach
    gunicorn through Debian's nginx with the production config (deploy/nginx)."""
    admission, _, proxy = mode.partition("+")
    scenario = dataclasses.replace(scenario, proxy=proxy or None)
    outcome = Outcome(mode=mode, scenario=scenario, opens_at=scenario.lead)
    # One database and Redis db for every mode: this process's Django settings are made once.
    with (
        faults.own_servers(scenario.faults) as (servers, own_redis, own_database),
        scratch_django(scenario.db_name, scenario.redis_db, **mode_settings(admission, scenario), **servers) as env,
    ):
        from django.db import connections

        data = seed(scenario)
        outcome.db["money_before"] = wallet_total()
        connections.close_all()
        OUT.mkdir(parents=True, exist_ok=True)
        plan_path, result_path = OUT / f"plan-{mode}.json", OUT / f"result-{mode}.json"
        result_path.unlink(missing_ok=True)
        metrics_dir = tempfile.mkdtemp(prefix="rush-metrics-")
        access_log = OUT / f"nginx-access-{mode}.log"
        env = {**env, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        with (
            celery(env, scenario.celery_workers) as celery_processes,
            web_tier(
                env,
                servers=scenario.web_servers,
                workers=scenario.web_workers,
                proxy=scenario.proxy,
                crowd_workers=scenario.crowd_workers if scenario.proxy == "nginx" else 0,
                crowd_server=scenario.crowd_server,
                web_server=scenario.web_server,
                push_workers=scenario.push_workers if scenario.proxy == "nginx" else 0,
                access_log=access_log if scenario.proxy == "nginx" else None,
            ) as base,
        ):
            # The clock starts once every process is up (and Locust has had time to import), so that a
            # slow start never eats into the pre-queue; nothing has read the date's opening yet.
            t0 = time.time() + 10
            open_booking_at(data["date_id"], t0 + scenario.lead)
            connections.close_all()
            plan_path.write_text(json.dumps(locust_plan(scenario, data, t0)))
            print(f"\n== {mode} admission: {scenario.buyers} buyers, {scenario.seats} seats; the pre-queue "
                  f"window ({scenario.lead:.0f} s) starts in {t0 - time.time():.0f} s ==")  # fmt: skip
            outcome.t0_epoch = t0
            sampler = Sampler(outcome, data["date_id"], t0)
            sampler.start()
            injected = scenario.faults and faults.RushFaults(
                env=env, celery_processes=celery_processes, base_url=base, redis_server=own_redis, database=own_database,
                opens_at=t0 + scenario.lead, sale_seconds=max(30.0, scenario.budget - scenario.lead) / 2, cwd=ROOT,
            ).start()  # fmt: skip
            profile = OUT / f"locust-{mode}.pstats" if scenario.profile_loadgen else None
            locust_cpu = run_locust(
                plan_path, result_path, base, scenario.budget, profile, scenario.loadgen_processes,
                scenario.loadgen_full_gc,
            )  # fmt: skip
            outcome.failures += injected.finish() if injected else []
            outcome.wall = time.time() - t0
            outcome.draw = published_draw(base, data)
            (OUT / f"draw-{mode}.json").write_text(json.dumps(outcome.draw))
            time.sleep(scenario.hold_ttl + 10)  # every abandoned hold reaches its expiry and the sweep runs
            sampler.stopped.set()
            sampler.join()
        outcome.cpu[LOCUST] = locust_cpu  # reaped before the last snapshot: counted apart
        other = outcome.cpu.get("everything else on the machine", 0.0)
        outcome.cpu["everything else on the machine"] = max(0.0, other - locust_cpu)
        outcome.result = json.loads(result_path.read_text())
        families = metric_families(metrics_dir)
        outcome.service = service_times(families)
        outcome.tasks = task_times(families)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if scenario.proxy == "nginx" and access_log.exists():
            with open(access_log) as log:
                outcome.proxy_booking = rush_gates.proxy_booking_windows(
                    (json.loads(line) for line in log if line.startswith("{")), opens_at_epoch=t0 + scenario.lead
                )
        collect_database_facts(outcome, data, t0)
    return outcome


def metric_families(metrics_dir: str) -> list[Any]:
    """Every metric the service's processes (web workers, Celery) wrote to their multiprocess files,
    added up, read once."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=metrics_dir)
    return list(registry.collect())


def service_times(families: list[Any]) -> dict[str, tuple[int, float, float, float]]:
    """Per route: requests, mean and p95 (the upper edge of its bucket) of the time Django spent on
    them in the web workers, and the mean CPU time a request took there (`metric_families`)."""
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    for family in families:
        if family.name not in ("ticketing_http_request_duration_seconds", "ticketing_http_request_cpu_seconds"):
            continue
        for sample in family.samples:
            route = f"{sample.labels['method']} {sample.labels['route']}"
            if sample.name.endswith("_bucket"):
                buckets[route].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith(("_count", "_sum")):
                totals[route][sample.name.rsplit("_", 1)[1]] = sample.value
            elif sample.name.endswith("_total"):
                totals[route]["cpu"] = sample.value
    times = {}
    for route, total in totals.items():
        count = int(total.get("count", 0))
        if not count:
            continue
        edges = sorted(buckets[route])
        p95 = next((edge for edge, seen in edges if seen >= 0.95 * count), float("inf"))
        times[route] = (count, 1000 * total.get("sum", 0.0) / count, 1000 * p95, 1000 * total.get("cpu", 0.0) / count)
    return times


def task_times(families: list[Any]) -> dict[str, tuple[int, float, float]]:
    """Per Celery task: runs, mean run time and mean CPU time (the worker thread's), from
    `metric_families`."""
    totals: dict[str, dict[str, float]] = defaultdict(dict)
    for family in families:
        if family.name not in ("ticketing_celery_task_duration_seconds", "ticketing_celery_task_cpu_seconds"):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_count", "_sum", "_total")):
                totals[sample.labels["task"]][sample.name.rsplit("_", 1)[1]] = sample.value
    return {
        task: (int(total["count"]), 1000 * total.get("sum", 0.0) / total["count"], 1000 * total.get("total", 0.0) / total["count"])
        for task, total in totals.items()
        if total.get("count")
    }  # fmt: skip


def published_draw(base: str, data: dict[str, Any]) -> dict[str, Any]:
    """The date's draw from its two public URLs, read as `manage.py verify_draw` reads them (the same
    apps/queue/draw.fetch): {} when either is missing."""
    published = public_draw.fetch(base, data["concert_id"], data["date_id"])
    if published.errors or published.order is None:
        print("the published draw:", "; ".join(published.errors))
        return {}
    return {"draw": published.draw, "order": published.order}


def locust_plan(scenario: Scenario, data: dict[str, Any], t0: float) -> dict[str, Any]:
    path = f"/api/concerts/{data['concert_id']}/dates/{data['date_id']}"
    target = f"concert_id={data['concert_id']}&concert_date_id={data['date_id']}"
    return {
        **data, "t0": t0, "opens_at": scenario.lead, "arrivals": arrivals(scenario), "budget_seconds": scenario.budget, "password": PASSWORD,
        "abandon": scenario.abandon, "seed": scenario.seed, "think_choose": scenario.think_choose,
        "think_pay": scenario.think_pay, "hold_attempts": 5, "layout_path": f"{path}/seat-layout",
        "status_path": f"{path}/seat-status", "queue_query": f"/api/queue?{target}",
        "status_query": f"/api/queue/status?{target}", "best_available_share": scenario.best_available_share,
        # An admitted buyer who finds every seat held waits this long for held seats to come back.
        "patience_seconds": scenario.hold_ttl + 30,
    }  # fmt: skip


def open_booking_at(date_id: int, at: float) -> None:
    import datetime as dt

    from apps.concerts.models import ConcertDate

    ConcertDate.objects.filter(pk=date_id).update(booking_opens_at=dt.datetime.fromtimestamp(at, tz=dt.UTC))


def mode_settings(mode: str, scenario: Scenario) -> dict[str, str]:
    unlimited = "1000000/min"
    settings = {
        "QUEUE_ADMISSION": mode, "HOLD_TTL_SECONDS": str(scenario.hold_ttl), "HOLD_SWEEP_INTERVAL_SECONDS": "2",
        "QUEUE_PREQUEUE_SECONDS": str(int(scenario.lead + 300)), "EMAIL_URL": "dummymail://",
        "WEB_CONCURRENCY": str(scenario.web_workers),
    }  # fmt: skip
    if mode == "fixed":
        settings.update(QUEUE_ADMIT_INTERVAL_SECONDS="10", QUEUE_ADMIT_BATCH="110", QUEUE_MAX_ACTIVE="660")
    elif scenario.max_active:
        settings["QUEUE_MAX_ACTIVE"] = str(scenario.max_active)
    # Every buyer comes from this one address: the per-IP limits would see one giant office behind NAT.
    for scope in ("LOGIN", "REFRESH", "QUEUE_ENTER", "HOLD", "PAY", "REFRESH_IP", "QUEUE_ENTER_IP", "HOLD_IP", "PAY_IP",
                  "ANON_IP"):  # fmt: skip
        settings[f"THROTTLE_{scope}"] = unlimited
    return settings


def wallet_total() -> Decimal:
    from django.db.models import Sum

    from apps.accounts.models import User

    return User.objects.aggregate(s=Sum("balance"))["s"] or Decimal(0)


def collect_database_facts(outcome: Outcome, data: dict[str, Any], t0: float) -> None:
    from django.core.management import call_command
    from django.db.models import Sum

    from apps.concerts.models import Seat
    from apps.payments.models import Payment
    from apps.reservations.models import Reservation, ReservationItem

    date_id = data["date_id"]
    abandoned = [j["reservation"] for j in outcome.result["journeys"] if j.get("outcome") == "abandoned"]
    db = outcome.db
    db["sold"] = Seat.objects.filter(concert_date_id=date_id, status="RESERVED").count()
    db["confirmed_items"] = ReservationItem.objects.filter(reservation__status="CONFIRMED").count()
    db["money_after"] = wallet_total()
    db["paid_total"] = Payment.objects.filter(status="PAID").aggregate(s=Sum("amount"))["s"] or Decimal(0)
    db["unreleased"] = Reservation.objects.filter(pk__in=abandoned).exclude(status="EXPIRED").count()
    db["abandoned"] = len(abandoned)
    # Seats sold over time, from the payments themselves (seconds since t0, seats in that payment).
    db["sales"] = sorted(
        (payment.paid_at.timestamp() - t0, payment.reservation.items.count())
        for payment in Payment.objects.filter(status="PAID").select_related("reservation")
    )
    try:
        call_command("check_invariants", grace_seconds=0)
        db["invariants"] = "ok"
    except BaseException as exc:  # the command exits non-zero on a breach
        db["invariants"] = f"BROKEN: {exc}"


# --- analysis ---------------------------------------------------------------------------------------


def rank_tests(early: list[dict[str, Any]], place: dict[int, Any]) -> dict[str, float]:
    """Spearman's rho and a decile chi-square of drawn place against arrival, over the buyers `early`
    (each with `entered`) whose place `place` knows; {} for fewer than 20."""
    from scipy import stats as scipy_stats

    by_arrival = sorted((j for j in early if j["user_id"] in place), key=lambda j: j["entered"])
    if len(by_arrival) < 20:
        return {}
    drawn = [place[j["user_id"]] for j in by_arrival]
    rho, p_rho = scipy_stats.spearmanr(range(len(drawn)), drawn)
    deciles = 10 if len(drawn) >= 500 else 4
    position_rank = {at: rank for rank, at in enumerate(sorted(drawn))}
    table = [[0] * deciles for _ in range(deciles)]
    for arrival_rank, at in enumerate(drawn):
        table[arrival_rank * deciles // len(drawn)][position_rank[at] * deciles // len(drawn)] += 1
    chi2, p_chi2, _, _ = scipy_stats.chi2_contingency(table)
    return {"rho": rho, "p_rho": p_rho, "chi2": chi2, "p_chi2": p_chi2, "ranked": len(drawn)}


def fairness(outcome: Outcome) -> dict[str, Any]:
    """The pre-queue's drawn order against arrival order, and FIFO after the opening.

    Drawn order: each pre-queued buyer's place in the published draw, found from the revealed secret,
    the user id and the buyer's nonce (`rush_gates.published_places`), as a buyer finds it. When the
    server published no draw, the server's score of each buyer in the line as the sampler read it; that
    ranking is reported beside the published one too (the sampler misses buyers admitted between its
    full reads of the line). Arrival order: when the buyer entered. Under a uniform draw the two are
    independent.
    FIFO: a buyer admitted while someone with a lower score (ahead in the line) was seen waiting by a poll
    sent after the admission's answer came (`rush_gates.fifo_violations`)."""
    journeys = {j["user_id"]: j for j in outcome.result["journeys"] if "entered" in j}
    prequeued = [j for j in journeys.values() if j.get("prequeue")]
    place = {}
    if outcome.draw:
        nonces = {j["user_id"]: j["nonce"] for j in prequeued if "nonce" in j}
        place = rush_gates.published_places(draw=outcome.draw["draw"], order=outcome.draw["order"], nonces=nonces)
    # Every pre-queued buyer counts towards the draw's tests being due; those whose drawn place is not
    # known cannot be ranked, and without ranks the tests fail rather than pass.
    figures: dict[str, Any] = {"prequeued": len(prequeued), "draw_ranked_by": "the published order"}
    figures.update(rank_tests(prequeued, place))
    by_sampler = rank_tests(prequeued, outcome.scores)
    if not place:
        figures.update(by_sampler, draw_ranked_by="the sampler's scores")
    elif by_sampler:
        figures["sampler"] = by_sampler
    # Pre-queued buyers the line placed behind a later arrival: the line's own scores, as the sampler read them.
    scored = [outcome.scores[j["user_id"]] for j in prequeued if j["user_id"] in outcome.scores]
    later = [outcome.scores[j["user_id"]] for j in journeys.values()
             if not j.get("prequeue") and j["user_id"] in outcome.scores]  # fmt: skip
    figures["prequeue_behind_later"] = sum(1 for s in scored if later and s > min(later))
    admitted = [(j["admitted"], outcome.scores.get(uid)) for uid, j in journeys.items() if "admitted" in j]
    seen_waiting = [(sent, outcome.scores.get(uid)) for uid, j in journeys.items() for sent, _ in j["polls"]]
    violations = rush_gates.fifo_violations(
        [(t, s) for t, s in admitted if s is not None], [(t, s) for t, s in seen_waiting if s is not None]
    )
    figures["fifo_violations"] = violations
    return figures


def summarise(outcome: Outcome) -> None:
    s, db, result = outcome.scenario, outcome.db, outcome.result
    journeys = result["journeys"]
    opens = outcome.opens_at
    sales = [(t - opens, n) for t, n in db["sales"]]
    sold_out_at = rush_gates.time_to_share_sold(sales, seats=s.seats)
    admitted = [j["admitted"] - opens for j in journeys if "admitted" in j]
    span = max((t for t, _ in sales), default=0.0) or 1.0
    requests = sum(int(n) for codes in result["statuses"].values() for n in codes.values())
    outcome.figures.update(
        arrived=len(journeys), admitted=len(admitted), paid=sum(1 for j in journeys if j.get("outcome") == "paid"),
        outcomes=Counter(j.get("outcome", "still waiting at the end") for j in journeys),
        sold=db["sold"], sold_out_seconds=sold_out_at, peak_per_minute=rush_gates.peak_per_minute(sales),
        mean_per_minute=sum(n for _, n in sales) / (span / 60),
        admissions_per_minute=dict(sorted(Counter(int(t // 60) for t in admitted).items())),
        requests=requests, **fairness(outcome),
    )  # fmt: skip
    check(outcome)
    outcome.gates = rush_gates.evaluate(gate_figures(outcome), s.slo)


# A journey that ended because a request kept failing (bench/rush_locust.py's GiveUp).
GAVE_UP = "gave up: "


def gate_figures(outcome: Outcome) -> RushFigures:
    """What the gates judge, from what the run saw (times since the opening)."""
    s, db, result, f = outcome.scenario, outcome.db, outcome.result, outcome.figures
    opens, journeys = outcome.opens_at, result["journeys"]
    sales = [(t - opens, n) for t, n in db["sales"]]
    timeline = timeline_since_opening(outcome)
    run_ended = outcome.wall - opens
    gone = rush_gates.last_seat_sold_at(sales, seats=s.seats)
    since_opening = [
        {**j, **{key: j[key] - opens for key in ("entered", "admitted", "ended", "told_sold_out") if key in j}}
        for j in journeys
    ]
    waiting, told = (
        rush_gates.waiting_told_sold_out(since_opening, seats_gone_at=gone, within=s.slo.sold_out_told_seconds)
        if gone is not None else (None, 0)
    )  # fmt: skip
    poll_peak, poll_after = rush_gates.poll_rates(
        timeline, after=None if gone is None else gone + s.slo.sold_out_told_seconds, run_ended=run_ended
    )
    if poll_after is None and gone is not None and all("ended" in j for j in journeys):
        poll_after = 0.0  # every journey had ended before then: nobody polled
    paid = [j for j in journeys if j.get("outcome") == "paid"]
    server = (WEB_TIER, "push", "celery workers", "celery beat", "MariaDB", "Redis", "nginx", "haproxy")
    return RushFigures(
        seats=s.seats, sold=db["sold"], sold_99_seconds=f["sold_out_seconds"],
        peak_seats_per_minute=f["peak_per_minute"],
        p99_ms=rush_gates.p99_outside_grace(timeline, grace_seconds=s.slo.p99_grace_seconds),
        buyers=len(journeys),
        unserved=rush_gates.unserved_buyers(since_opening, seats_gone_at=gone, run_ended=run_ended),
        requests=f["requests"],
        answers_503=sum(int(codes.get("503", 0)) for codes in result["statuses"].values()),
        draw=draw_figures(outcome), server_cpu_seconds=sum(outcome.cpu.get(group, 0.0) for group in server),
        booking_window_p95_ms=rush_gates.booking_window_p95(timeline, warmup_seconds=s.slo.booking_warmup_seconds),
        sold_out_supported=bool(result.get("server_supports", {}).get("sold_out")),
        waiting_at_sell_out=waiting, told_sold_out_in_time=told, poll_peak_per_second=poll_peak,
        poll_after_sold_out_per_second=poll_after,
        hold_attempts=sum(j.get("hold_attempts", 0) for j in journeys),
        seat_unavailable=sum(j.get("seat_unavailable", 0) for j in journeys),
        paid_orders=len(paid), hold_attempts_of_paid_orders=sum(j.get("hold_attempts", 0) for j in paid),
        gave_up_on_failures=sum(1 for j in journeys if str(j.get("outcome", "")).startswith(GAVE_UP)),
        correctness=list(outcome.failures),
    )  # fmt: skip


def timeline_since_opening(outcome: Outcome) -> list[tuple[str, float, list[float]]]:
    """The buyers' latencies by endpoint and window, each window's start in seconds since the opening."""
    return [(name, at - outcome.opens_at, values) for name, at, values in outcome.result["timeline"]]


def print_collector(outcome: Outcome, warmup: float) -> None:
    """The load generator's garbage collector: its full collections, and its longest pause in the windows
    the booking gate judges (a pause stops every buyer, then their delayed requests arrive together)."""
    full = outcome.result.get("gc_full")
    if not full:
        return
    pauses = sorted(took for at, took in outcome.result.get("gc_pause", []) if at - outcome.opens_at >= warmup)
    state = "on (--loadgen-full-gc)" if full["automatic"] else "off"
    print(f"load generator's garbage collector (automatic full collections {state}): {full['collections']} full "
          f"collections, {full['ms'] / 1000:.1f} s in them; longest pause after the first {warmup:g} s "
          f"{pauses[-1] if pauses else 0:.0f} ms; its memory at most {full.get('max_rss_mb', 0):,} MB")  # fmt: skip


def print_loop_lag(outcome: Outcome) -> None:
    """How late the load generator's loop ran in the windows the booking gate judges, and how many of
    the gate's failing windows it lagged by more than a second in: a buyer reads a response only when
    the loop gets to it, so such a window measured the generator as much as the service."""
    warmup = outcome.scenario.slo.booking_warmup_seconds
    lags = {at - outcome.opens_at: late for at, late in outcome.result.get("loop_lag", [])}
    judged = sorted(late for at, late in lags.items() if at >= warmup)
    if not judged:
        return
    booking = rush_gates.booking_windows(timeline_since_opening(outcome), warmup_seconds=warmup)
    slo = outcome.scenario.slo
    failing = [at for at, values in booking.items() if percentile(values, 0.95) > slo.booking_p95_ms]
    lagging = [at for at in failing if lags.get(at, 0.0) > 1000]
    print(f"load generator's loop lag (the longest per {rush_gates.WINDOW_SECONDS:g} s window after the first "
          f"{warmup:g} s): median {percentile(judged, 0.5):.0f} ms, p95 {percentile(judged, 0.95):.0f} ms, worst "
          f"{judged[-1]:.0f} ms; of the {len(failing)} booking windows over {slo.booking_p95_ms:g} ms, "
          f"{len(lagging)} had the generator more than 1 s late")  # fmt: skip
    print_collector(outcome, warmup)
    at_proxy = rush_gates.windows_p95(outcome.proxy_booking, warmup_seconds=warmup)
    if at_proxy:
        within = sum(1 for p95 in at_proxy if p95 <= slo.booking_p95_ms)
        worst = max(max(v) for at, v in outcome.proxy_booking.items() if at >= warmup)
        print(f"booking-path p95 per {rush_gates.WINDOW_SECONDS:g} s window at the proxy (nginx's request_time, "
              f"the same windows): {within} of {len(at_proxy)} ({within / len(at_proxy):.0%}) within "
              f"{slo.booking_p95_ms:g} ms, worst p95 {max(at_proxy):.0f} ms, slowest request {worst:.0f} ms")  # fmt: skip


def draw_figures(outcome: Outcome) -> DrawFigures:
    f = outcome.figures
    figures = DrawFigures(prequeued=f["prequeued"], p_rho=f.get("p_rho"), p_chi2=f.get("p_chi2"),
                          behind_later=f.get("prequeue_behind_later", 0))  # fmt: skip
    if not outcome.draw:
        return figures
    early = [j for j in outcome.result["journeys"] if j.get("prequeue") and "nonce" in j]
    line = sorted((outcome.scores[j["user_id"]], j["user_id"]) for j in early if j["user_id"] in outcome.scores)
    figures.published_problems = rush_gates.verify_draw(
        draw=outcome.draw["draw"],
        order=outcome.draw["order"],
        nonces={j["user_id"]: j["nonce"] for j in early},
        drawn_order=[uid for _, uid in line],
    )
    figures.keys_p = rush_gates.keys_uniform_p(outcome.draw["order"])
    return figures


def check(outcome: Outcome) -> None:
    """The run's correctness: each check that fails adds a line to outcome.failures."""
    db, result, f = outcome.db, outcome.result, outcome.figures
    fail = outcome.failures.append
    if db["invariants"] != "ok":
        fail(f"check_invariants: {db['invariants']}")
    if db["sold"] != db["confirmed_items"]:
        fail(f"seats sold {db['sold']} != confirmed items {db['confirmed_items']}")
    if db["money_after"] + db["paid_total"] != db["money_before"]:
        fail(f"money: {db['money_before']} before, {db['money_after']} + {db['paid_total']} paid after")
    if db["unreleased"]:
        fail(f"{db['unreleased']} abandoned holds not released")
    transport = sum(int(codes.get("transport", 0)) for codes in result["statuses"].values())
    if transport and not outcome.scenario.faults:  # under faults a killed worker's connections break; the page retries
        fail(f"{transport} client timeouts or transport errors")
    if result["server_errors"]:
        fail(f"5xx other than 503: {result['server_errors'][:3]}")
    if result["missing_retry_after"]:
        fail(f"429/503 without Retry-After: {result['missing_retry_after']}")
    if not f["admitted"] or not f["sold"]:
        fail("nobody was served: no admission or no seat sold")
    if f["fifo_violations"]:
        fail(f"{f['fifo_violations']} admissions out of line order")


# --- report -----------------------------------------------------------------------------------------

ENDPOINT_ORDER = ["POST /api/auth/login", "POST /api/auth/refresh", "POST /api/queue", "GET /api/queue/status",
                  "DELETE /api/queue", "GET seat-layout", "GET seat-status", "POST /api/reservations",
                  "POST /api/payments"]  # fmt: skip


def endpoint_rows(outcome: Outcome) -> list[list[Any]]:
    rows = []
    for name in sorted(outcome.result["statuses"], key=lambda n: [*ENDPOINT_ORDER, n].index(n)):
        values = outcome.result["latencies"].get(name, [])
        codes = " ".join(f"{c}:{n}" for c, n in sorted(outcome.result["statuses"][name].items()))
        rows.append([outcome.mode, name, len(values), round(len(values) / max(outcome.wall, 1), 1),
                     round(percentile(values, 0.5), 1), round(percentile(values, 0.95), 1),
                     round(percentile(values, 0.99), 1), codes])  # fmt: skip
    return rows


def print_report(outcome: Outcome) -> None:
    f, db = outcome.figures, outcome.db
    print(f"\n-- {outcome.mode} admission --")
    print(f"{'endpoint':<24} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for row in endpoint_rows(outcome):
        print(f"{row[1]:<24} {row[2]:>8} {row[3]:>7} {row[4]:>8} {row[5]:>8} {row[6]:>8}  {row[7]}")
    if outcome.service:
        print("time in Django (inside a web worker; the rest of the client's latency was spent queued), and its"
              " CPU (the serving thread's):")  # fmt: skip
        cpu_in_django = sum(count * cpu_ms for count, _, _, cpu_ms in outcome.service.values()) / 1000 or 1.0
        for route, (count, mean_ms, p95_ms, cpu_ms) in sorted(outcome.service.items(), key=lambda kv: -kv[1][0]):
            route = route.replace("/api/concerts/<id:concert_id>/dates/<id:concert_date_id>/", "…/")
            spent = count * cpu_ms / 1000
            print(f"  {route:<24} {count:>8} requests, mean {mean_ms:7.1f} ms, p95 <= {p95_ms:g} ms; CPU "
                  f"{cpu_ms:5.2f} ms a request, {spent:6.1f} s ({spent / cpu_in_django:.0%})")  # fmt: skip
        print(f"  CPU inside Django, every route: {cpu_in_django:.0f} s (the rest of the web tier's is gunicorn,"
              " the WSGI layer and the garbage collector between requests)")  # fmt: skip
    if outcome.tasks:
        print("Celery tasks (run time and the worker thread's CPU):")
        cpu_in_tasks = sum(count * cpu_ms for count, _, cpu_ms in outcome.tasks.values()) / 1000
        for task, (count, mean_ms, cpu_ms) in sorted(outcome.tasks.items(), key=lambda kv: -kv[1][0] * kv[1][2]):
            print(f"  {task.rsplit('.', 1)[-1]:<36} {count:>6} runs, mean {mean_ms:7.1f} ms; CPU {cpu_ms:6.2f} ms a"
                  f" run, {count * cpu_ms / 1000:6.1f} s")  # fmt: skip
        print(f"  CPU inside tasks: {cpu_in_tasks:.0f} s (the rest of the workers' is Celery's own: messages, the"
              " pool, heartbeats)")  # fmt: skip
    sold_out = (
        f"{f['sold_out_seconds']:.0f} s after the opening" if f["sold_out_seconds"] is not None else "not reached"
    )
    print(f"buyers arrived {f['arrived']}, admitted {f['admitted']}, paid {f['paid']}; outcomes {dict(f['outcomes'])}")
    print(f"seats sold {f['sold']} of {outcome.scenario.seats}; >= 99 % sold: {sold_out}; seats/min peak "
          f"{f['peak_per_minute']}, mean {f['mean_per_minute']:.0f}")  # fmt: skip
    print(f"admissions per minute after the opening: {f['admissions_per_minute']}")
    if "rho" in f:
        print(f"draw of {f['prequeued']} pre-queued buyers, {f['ranked']} ranked by {f['draw_ranked_by']}: "
              f"Spearman rho {f['rho']:+.3f} (p {f['p_rho']:.3f}), chi-square p {f['p_chi2']:.3f}; pre-queued "
              f"behind later arrivals: {f['prequeue_behind_later']}")  # fmt: skip
        if "sampler" in f:
            g = f["sampler"]
            print(f"  the same ranked by the sampler's scores ({g['ranked']} seen): Spearman rho {g['rho']:+.3f} "
                  f"(p {g['p_rho']:.3f}), chi-square p {g['p_chi2']:.3f} (reported, not judged)")  # fmt: skip
    print(f"FIFO violations: {f['fifo_violations']}; invariants {db['invariants']}; money before "
          f"{db['money_before']}, after {db['money_after']} + paid {db['paid_total']}; abandoned {db['abandoned']}, "
          f"unreleased {db['unreleased']}")  # fmt: skip
    total_cpu = sum(outcome.cpu.values()) or 1.0
    print("CPU seconds over the run (share of the machine's 2 cores x wall): " + ", ".join(
        f"{group} {seconds:.0f} s ({seconds / (2 * max(outcome.wall, 1)):.0%})"
        for group, seconds in sorted(outcome.cpu.items(), key=lambda kv: -kv[1])))  # fmt: skip
    locust = outcome.cpu.get(LOCUST, 0)
    print(f"load generator: {locust / total_cpu:.0%} of the CPU used, {1000 * locust / max(f['arrived'], 1):.1f} ms "
          f"per simulated buyer, {1e6 * locust / max(f['requests'], 1):.0f} µs per request ({f['requests']} requests)")  # fmt: skip
    # The sale's middle: from a sixth to two thirds of the sell-out gate (30-120 s of the full rush's 180 s).
    start, end = outcome.scenario.slo.sellout_seconds / 6, outcome.scenario.slo.sellout_seconds * 2 / 3
    middle = cpu_between(outcome, start, end)
    if middle:
        print(f"cores used {start:.0f}-{end:.0f} s after the opening (the sale's middle): " + ", ".join(
            f"{group} {cores:.2f}" for group, cores in sorted(middle.items(), key=lambda kv: -kv[1])))  # fmt: skip
    print_loop_lag(outcome)
    journeys = outcome.result["journeys"]
    attempts = sum(j.get("hold_attempts", 0) for j in journeys)
    refused = sum(j.get("seat_unavailable", 0) for j in journeys)
    supports = outcome.result.get("server_supports", {})
    print(f"holds: {attempts} attempts, {refused} refused SEAT_UNAVAILABLE ({refused / max(attempts, 1):.1%}), "
          f"{attempts / max(f['paid'], 1):.2f} attempts per paid order (everyone's); best available "
          f"{'used' if supports.get('best_available') else 'not offered by the server: every buyer picked on the map'}")  # fmt: skip
    profile = OUT / f"locust-{outcome.mode}.pstats"
    if outcome.scenario.profile_loadgen and profile.exists():
        import pstats

        print(f"where the load generator's CPU went (cProfile, by own time; {profile}):")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(15)
    print(f"\ngates ({outcome.mode}):")
    for gate in outcome.gates:
        print(f"  {gate.line()}")


def cores_used(earlier: tuple[float, dict[str, float]], later: tuple[float, dict[str, float]]) -> dict[str, float]:
    """The cores each group used on average between two samples of the CPU timeline."""
    (before, used_before), (at, used) = earlier, later
    return {group: (seconds - used_before.get(group, 0.0)) / (at - before) for group, seconds in used.items()}


def cpu_per_second(outcome: Outcome) -> list[tuple[float, dict[str, float]]]:
    """The cores each finer group used between two samples, at the later sample's time since t0."""
    return [
        (later[0], cores_used(earlier, later))
        for earlier, later in itertools.pairwise(outcome.cpu_timeline)
        if later[0] > earlier[0]
    ]


def cpu_between(outcome: Outcome, start: float, end: float) -> dict[str, float]:
    """The cores each group used on average from `start` to `end` seconds after the opening."""
    inside = [sample for sample in outcome.cpu_timeline if start <= sample[0] - outcome.opens_at <= end]
    return cores_used(inside[0], inside[-1]) if len(inside) >= 2 else {}


def write_files(outcomes: list[Outcome]) -> None:
    with open(OUT / "endpoints.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mode", "endpoint", "requests", "req_per_s", "p50_ms", "p95_ms", "p99_ms", "statuses"])
        for outcome in outcomes:
            writer.writerows(endpoint_rows(outcome))
    with open(OUT / "timeline.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["mode", "seconds_since_opening", "prequeue", "waiting", "active", "seats_sold_total", "machine_cpu"]
        )
        for outcome in outcomes:
            sales, total = iter(outcome.db["sales"]), 0
            pending = next(sales, None)
            for sample in outcome.samples:
                while pending is not None and pending[0] <= sample["t"]:
                    total += pending[1]
                    pending = next(sales, None)
                writer.writerow([outcome.mode, round(sample["t"] - outcome.opens_at, 1), sample["prequeue"], sample["waiting"],
                                 sample["active"], total, round(sample.get("machine_cpu", 0.0), 3)])  # fmt: skip
    with open(OUT / "cpu.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mode", "seconds_since_opening", "group", "cores"])
        for outcome in outcomes:
            for at, cores in cpu_per_second(outcome):
                writer.writerows([outcome.mode, round(at - outcome.opens_at, 1), group, round(used, 3)]
                                 for group, used in sorted(cores.items()))  # fmt: skip
    with open(OUT / "decisions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        columns = ["action", "active", "admit", "target", "p95_ms", "samples", "shed", "departed", "drain_per_s"]
        writer.writerow(["mode", "seconds_since_opening", *columns, "waiting", "reason"])
        for outcome in outcomes:
            for at, decision in sorted(outcome.decisions.items()):
                writer.writerow([outcome.mode, round(at / 1000 - outcome.t0_epoch - outcome.opens_at, 1),
                                 *(decision.get(c) for c in columns), decision.get("waiting"), decision.get("reason", "")])  # fmt: skip
    with open(OUT / "latency.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mode", "endpoint", "seconds_since_opening", "requests", "p50_ms", "p95_ms", "p99_ms"])
        for outcome in outcomes:
            for name, at, values in outcome.result["timeline"]:
                writer.writerow([outcome.mode, name, round(at - outcome.opens_at, 1), len(values),
                                 round(percentile(values, 0.5), 1), round(percentile(values, 0.95), 1),
                                 round(percentile(values, 0.99), 1)])  # fmt: skip
    plots(outcomes)


def plots(outcomes: list[Outcome]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    (sold_ax, queue_ax), (admit_ax, latency_ax) = axes
    for outcome in outcomes:
        t, total, xs, ys = outcome.opens_at, 0, [], []
        for at, n in outcome.db["sales"]:
            total += n
            xs.append(at - t)
            ys.append(total)
        sold_ax.plot(xs, ys, label=outcome.mode)
        queue_ax.plot([s["t"] - t for s in outcome.samples], [s["waiting"] for s in outcome.samples],
                      label=f"{outcome.mode}: waiting")  # fmt: skip
        queue_ax.plot([s["t"] - t for s in outcome.samples], [s["prequeue"] for s in outcome.samples], ":",
                      label=f"{outcome.mode}: pre-queue")  # fmt: skip
        queue_ax.plot([s["t"] - t for s in outcome.samples], [s["active"] for s in outcome.samples], "--",
                      label=f"{outcome.mode}: admitted")  # fmt: skip
        admitted = Counter(int((j["admitted"] - t) // 10) * 10 for j in outcome.result["journeys"] if "admitted" in j)
        buckets = list(range(min(admitted, default=0), max(admitted, default=0) + 10, 10))
        admit_ax.step(buckets, [admitted[x] for x in buckets], where="post", label=outcome.mode)
        for name in ("GET /api/queue/status", "POST /api/reservations", "POST /api/payments"):
            points = [(at - t, percentile(v, 0.95)) for n, at, v in outcome.result["timeline"] if n == name]
            latency_ax.plot([p[0] for p in points], [p[1] for p in points], label=f"{outcome.mode}: {name}")
    sold_ax.set(title="seats sold", xlabel="s since the opening", ylabel="seats")
    queue_ax.set(title="queue length", xlabel="s since the opening", ylabel="buyers")
    admit_ax.set(title="admissions per 10 s", xlabel="s since the opening", ylabel="buyers")
    latency_ax.set(title="p95 latency per 5 s", xlabel="s since the opening", ylabel="ms", yscale="log")
    for ax in axes.flat:
        ax.axvline(0, color="grey", linewidth=0.5)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "rush.png", dpi=90)


def print_comparison(outcomes: list[Outcome]) -> None:
    if len(outcomes) < 2:
        return
    print(f"\n{'':<36}" + "".join(f"{o.mode:>14}" for o in outcomes))
    rows = [
        ("seats sold", lambda o: o.figures["sold"]),
        ("sold >= 99 % (s after opening)", lambda o: round(o.figures["sold_out_seconds"] or -1)),
        ("seats/min peak", lambda o: o.figures["peak_per_minute"]),
        ("seats/min mean", lambda o: round(o.figures["mean_per_minute"])),
        ("admitted", lambda o: o.figures["admitted"]),
        ("hold p99 ms", lambda o: next((r[6] for r in endpoint_rows(o) if r[1] == "POST /api/reservations"), "-")),
        ("status p99 ms", lambda o: next((r[6] for r in endpoint_rows(o) if r[1] == "GET /api/queue/status"), "-")),
        ("gates failed", lambda o: len(rush_gates.failed(o.gates))),
    ]
    for label, value in rows:
        print(f"{label:<36}" + "".join(f"{value(o)!s:>14}" for o in outcomes))


# --- command ----------------------------------------------------------------------------------------


def parse() -> tuple[Scenario, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", action="store_true", help="inject scripts/faults.py's faults during the sale")
    parser.add_argument("--short", action="store_true", help="scaled down for make bench: auto only, < 3 min")
    parser.add_argument("--buyers", type=int, default=20_000)
    parser.add_argument("--seats", type=int, default=10_000)
    parser.add_argument("--admission", choices=["both", "auto", "fixed"], default="both")
    parser.add_argument("--prequeue-seconds", type=float, default=600, help="real length of the pre-queue window")
    parser.add_argument("--after-seconds", type=float, default=120, help="arrivals after the opening")
    parser.add_argument("--time-scale", type=float, default=0.25, help="compression of the pre-queue window")
    parser.add_argument(
        "--hold-ttl",
        type=int,
        default=None,
        help="seconds a hold lasts (HOLD_TTL_SECONDS): 60 for the full rush, 12 for --short",
    )
    parser.add_argument("--budget", type=int, default=None,
                        help="seconds of load per admission mode, at most (default 900; the arena's: its pre-queue "
                             "window, 15 minutes and a hold TTL)")  # fmt: skip
    parser.add_argument("--web-servers", type=int, default=1)
    parser.add_argument("--celery-workers", type=int, default=1)
    parser.add_argument("--web-workers", type=int, default=5, help="gunicorn sync workers per server")
    parser.add_argument("--crowd-workers", type=int, default=3,
                        help="behind nginx: gunicorn sync workers of the line's own (logins, token refreshes, "
                             "entries and status polls; 0: they share the web workers)")  # fmt: skip
    parser.add_argument("--push-workers", type=int, default=2,
                        help="behind nginx: processes of the push server holding the line's event streams "
                             "(0: none; the buyers then learn SOLD_OUT from their polls only)")  # fmt: skip
    parser.add_argument("--crowd-server", choices=["gunicorn", "granian"], default="granian",
                        help="behind nginx: the server of the waiting room's tier (granian, as deployed: "
                             "scripts/crowd_server.py with --crowd-workers processes; gunicorn: that many sync "
                             "workers); counted with gunicorn as the web tier")  # fmt: skip
    parser.add_argument("--web-server", choices=["gunicorn", "granian"], default="gunicorn",
                        help="behind nginx: the server of the booking tier (granian: --web-workers Granian "
                             "processes of one thread each)")  # fmt: skip
    parser.add_argument("--proxy", choices=["none", "nginx", "both"], default="none",
                        help="nginx: Debian's nginx with deploy/nginx in front of the web servers; "
                             "both: every mode direct and through nginx, side by side")  # fmt: skip
    parser.add_argument("--best-available-share", type=float, default=0.7,
                        help="share of buyers who ask the server for the best seats; the rest pick on the map")  # fmt: skip
    parser.add_argument("--sellout-slo", type=float, default=None,
                        help="gate: seconds from the opening to 99 %% sold (default 180; 60 with --short; 900 "
                             "from 50,000 seats, the arena)")  # fmt: skip
    parser.add_argument("--p99-slo", type=float, default=None,
                        help="gate: seconds of p99 for every endpoint but login, after the opening's first 30 s "
                             "(default 1; 2 in the arena)")  # fmt: skip
    parser.add_argument("--max-active", type=int, default=None,
                        help="auto admission's QUEUE_MAX_ACTIVE (default: the product's 660; docs/PERFORMANCE.md "
                             "measured 2,000 on the full rush)")  # fmt: skip
    parser.add_argument("--loadgen-processes", type=int, default=1,
                        help="Locust processes the buyers are split over (each takes every n-th buyer)")  # fmt: skip
    parser.add_argument("--loadgen-full-gc", action="store_true",
                        help="leave Python's automatic full collections on in the load generator (each pauses "
                             "every buyer; off by default)")  # fmt: skip
    parser.add_argument("--profile-loadgen", action="store_true",
                        help="run Locust under cProfile and print where its CPU went (slows the generator)")  # fmt: skip
    parser.add_argument("--db-name", default="bench_rush", help="the scratch MariaDB database (dropped after)")
    parser.add_argument("--redis-db", type=int, default=11, help="the scratch Redis db (flushed before and after)")
    args = parser.parse_args()
    slo_overrides: dict[str, float] = {}
    if args.p99_slo is not None:
        slo_overrides["p99_ms"] = 1000 * args.p99_slo
    if args.sellout_slo is not None:
        slo_overrides["sellout_seconds"] = args.sellout_slo
    common = {"best_available_share": args.best_available_share, "db_name": args.db_name,
              "redis_db": args.redis_db, "profile_loadgen": args.profile_loadgen,
              "crowd_workers": args.crowd_workers, "crowd_server": args.crowd_server, "web_server": args.web_server,
              "push_workers": args.push_workers, "loadgen_processes": max(1, args.loadgen_processes),
              "loadgen_full_gc": args.loadgen_full_gc}  # fmt: skip
    if args.short:
        # The budget leaves room after the sell-out gate for one hold TTL, so seats abandoned late come back
        # while buyers are still there to take them.
        scenario = Scenario(buyers=1200, seats=600, prequeue_seconds=200, after_seconds=20, time_scale=0.1,
                            hold_ttl=args.hold_ttl or SHORT_HOLD_TTL, budget=130, think_choose=(1.0, 3.0), think_pay=(1.0, 2.0),
                            login_spread_seconds=300, slo=judged(Slo.short(**slo_overrides), args.faults), faults=args.faults, **common)  # fmt: skip
        return scenario, variants(["auto"], args.proxy)
    arena = args.seats >= 50_000
    slo = Slo.arena(**slo_overrides) if arena else Slo.full(**slo_overrides)
    hold_ttl = args.hold_ttl or Scenario.hold_ttl
    budget = args.budget or (
        round(args.prequeue_seconds * args.time_scale + slo.sellout_seconds + hold_ttl + 60) if arena else 900
    )
    scenario = Scenario(buyers=args.buyers, seats=args.seats, prequeue_seconds=args.prequeue_seconds,
                        after_seconds=args.after_seconds, time_scale=args.time_scale, hold_ttl=hold_ttl,
                        budget=budget, web_servers=args.web_servers, celery_workers=args.celery_workers,
                        web_workers=args.web_workers, slo=judged(slo, args.faults), faults=args.faults,
                        max_active=args.max_active, **common)  # fmt: skip
    return scenario, variants(["fixed", "auto"] if args.admission == "both" else [args.admission], args.proxy)


def judged(slo: Slo, faults: bool) -> Slo:
    """Under faults the speed gates report (`Slo.under_faults`): `make rush` judges them."""
    return slo.under_faults() if faults else slo


def variants(modes: list[str], proxy: str) -> list[str]:
    """Each admission mode direct, through nginx ("auto+nginx"), or both."""
    suffixes = {"none": [""], "nginx": ["+nginx"], "both": ["", "+nginx"]}[proxy]
    return [mode + suffix for suffix in suffixes for mode in modes]


def main() -> None:
    scenario, modes = parse()
    print(f"open files allowed: {raise_open_files_limit()}")
    outcomes = []
    for mode in modes:
        outcome = run_mode(mode, scenario)
        summarise(outcome)
        print_report(outcome)
        outcomes.append(outcome)
    write_files(outcomes)
    print_comparison(outcomes)
    print(f"\nwrote {OUT / 'endpoints.csv'}, {OUT / 'timeline.csv'}, {OUT / 'latency.csv'}, {OUT / 'decisions.csv'}, "
          f"{OUT / 'rush.png'}")  # fmt: skip
    failures = [f"{o.mode}: {gate.line()}" for o in outcomes for gate in rush_gates.failed(o.gates)]
    if failures:
        print("RUSH FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("rush: every gate passed")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
