"""Prometheus metrics: every metric object of the service, and the small functions the rest of the code
calls to move them (one line at a call site, a few microseconds each).

Under gunicorn (several worker processes) and Celery (prefork children), set PROMETHEUS_MULTIPROC_DIR to
an empty directory private to the host or container before the processes start: each process then
writes its values to memory-mapped files there and a scrape adds them up (prometheus_client's
multiprocess mode). Without it (tests, `manage.py runserver`) the values live in the process.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest

NAMESPACE = "ticketing"
# Booking requests take milliseconds; a rush pushes them toward seconds; gunicorn kills at 30 s.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- HTTP ------------------------------------------------------------------------------------------
http_request_duration = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it, per URL route.",
    ["route", "method"],
    namespace=NAMESPACE,
    buckets=REQUEST_BUCKETS,
)
http_request_cpu = Counter(
    "http_request_cpu_seconds",
    "CPU time the serving thread spent on requests inside Django (time.thread_time), per URL route:"
    " what a route costs the web tier, apart from time spent waiting on the database or Redis.",
    ["route", "method"],
    namespace=NAMESPACE,
)
http_responses = Counter(
    "http_responses",
    "Responses by URL route, method and status code.",
    ["route", "method", "status"],
    namespace=NAMESPACE,
)
api_errors = Counter("api_errors", "Error responses by error code and status.", ["code", "status"], namespace=NAMESPACE)
sheds = Counter(
    "sheds",
    "Requests answered 503 (overload or a dependency down) instead of being served.",
    ["reason"],
    namespace=NAMESPACE,
)

# --- Waiting queue ---------------------------------------------------------------------------------
# Gauges are set by the admission runs (the Celery worker); the most recent value of any process counts.
queue_waiting = Gauge(
    "queue_waiting",
    "Buyers waiting in the date's line.",
    ["concert_date"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
queue_active = Gauge(
    "queue_active", "Admitted buyers holding a live access token.", ["concert_date"], namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)  # fmt: skip
queue_target_active = Gauge(
    "queue_target_active", "How many admitted buyers the admission policy aims for.", ["concert_date"],
    namespace=NAMESPACE, multiprocess_mode="mostrecent",
)  # fmt: skip
queue_entries = Counter("queue_entries", "New places taken in a waiting line.", namespace=NAMESPACE)
queue_admissions = Counter("queue_admissions", "Buyers admitted from a waiting line.", namespace=NAMESPACE)
queue_passed_over = Counter(
    "queue_passed_over", "Waiters passed over by admission, late for the poll they were told.", namespace=NAMESPACE
)

# --- Holds, payments -------------------------------------------------------------------------------
holds = Counter("holds", "Seat holds by what happened to them.", ["event"], namespace=NAMESPACE)
seat_conflicts = Counter(
    "seat_conflicts", "Hold attempts refused because a seat was taken (SEAT_UNAVAILABLE).", namespace=NAMESPACE
)
payments = Counter("payments", "Payments by outcome.", ["event"], namespace=NAMESPACE)
best_available = Counter(
    "best_available", "Best-available hold attempts: held, lost a race (chose again), nothing fit.", ["outcome"],
    namespace=NAMESPACE,
)  # fmt: skip

# --- Celery ----------------------------------------------------------------------------------------
celery_task_duration = Histogram(
    "celery_task_duration_seconds", "Task run time.", ["task"], namespace=NAMESPACE, buckets=TASK_BUCKETS
)
celery_task_queue_wait = Histogram(
    "celery_task_queue_wait_seconds", "Time from sending a task to a worker starting it.", ["task"],
    namespace=NAMESPACE, buckets=TASK_BUCKETS,
)  # fmt: skip
celery_task_cpu = Counter(
    "celery_task_cpu_seconds", "CPU time the worker's thread spent running the task.", ["task"], namespace=NAMESPACE
)
celery_tasks = Counter("celery_tasks", "Finished tasks by state.", ["task", "state"], namespace=NAMESPACE)


# --- What call sites use ---------------------------------------------------------------------------


def hold_made() -> None:
    holds.labels("made").inc()


def holds_expired(count: int) -> None:
    if count:
        holds.labels("expired").inc(count)


def hold_cancelled() -> None:
    holds.labels("cancelled").inc()


def hold_paid() -> None:
    holds.labels("paid").inc()
    payments.labels("paid").inc()


def payment_refunded() -> None:
    payments.labels("refunded").inc()


def seat_conflict() -> None:
    seat_conflicts.inc()


def best_available_attempt(outcome: str) -> None:
    """`held`, `lost_race` (a chosen seat was taken first: it chooses again) or `not_enough`."""
    best_available.labels(outcome).inc()


def queue_entered() -> None:
    queue_entries.inc()


def admission_run(
    *, concert_date_id: int, admitted: int, active: int, waiting: int, target_active: int, passed_over: int = 0
) -> None:
    date = str(concert_date_id)
    if admitted:
        queue_admissions.inc(admitted)
    if passed_over:
        queue_passed_over.inc(passed_over)
    queue_waiting.labels(date).set(waiting)
    queue_active.labels(date).set(active)
    queue_target_active.labels(date).set(target_active)


def shed(reason: str) -> None:
    sheds.labels(reason).inc()


def api_error(*, code: str, status: int) -> None:
    api_errors.labels(code, str(status)).inc()


def observe_request(*, route: str, method: str, status: int, seconds: float, cpu_seconds: float) -> None:
    http_request_duration.labels(route, method).observe(seconds)
    http_request_cpu.labels(route, method).inc(cpu_seconds)
    http_responses.labels(route, method, str(status)).inc()


def task_ran(*, task: str, seconds: float, cpu_seconds: float) -> None:
    celery_task_duration.labels(task).observe(seconds)
    celery_task_cpu.labels(task).inc(cpu_seconds)


def task_finished(*, task: str, state: str) -> None:
    celery_tasks.labels(task, state).inc()


def task_waited(*, task: str, seconds: float) -> None:
    celery_task_queue_wait.labels(task).observe(max(seconds, 0.0))


# --- Exposition ------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def _registry() -> CollectorRegistry:
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def serve(*, port: int, address: str) -> None:
    """Serve the metrics over HTTP from a background thread (a Celery worker has no web server)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=address, registry=_registry())


def exposition() -> tuple[bytes, str]:
    """The text format of every metric: added up over the processes of the directory in multiprocess
    mode, else this process's own."""
    return _generate_latest(_registry()), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """gunicorn's child_exit hook: drop the live-gauge files of a worker that has gone."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
