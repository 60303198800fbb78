"""Celery signal receivers: the request id travels from the request that sends a task to the worker
that runs it (a message header), and every task's queue wait, run time and outcome are measured.

Connected by importing this module (ticketing/celery.py does), in web and worker processes alike.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init, worker_process_shutdown

from . import metrics
from .logs import bind_request_id, bind_task, current_request_id, reset_request_id, reset_task

REQUEST_ID_HEADER = "request_id"
SENT_AT_HEADER = "sent_at"

# task id -> (started, the thread's CPU time then, request-id token, task token); a worker process runs
# one task at a time per thread, and the entry lives only from prerun to postrun.
_running: dict[str, tuple[float, float, Any, Any]] = {}


@before_task_publish.connect
def stamp_outgoing_task(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    request_id = current_request_id()
    if request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id
    headers.setdefault(SENT_AT_HEADER, time.time())


@task_prerun.connect
def task_started(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None or task_id is None:
        return
    request = task.request
    # Eagerly run tasks (tests) share the sender's context: its id is already bound.
    request_id = getattr(request, REQUEST_ID_HEADER, None) or current_request_id()
    sent_at = getattr(request, SENT_AT_HEADER, None)
    if sent_at is not None:
        with contextlib.suppress(TypeError, ValueError):
            metrics.task_waited(task=task.name, seconds=time.time() - float(sent_at))
    _running[task_id] = (
        time.perf_counter(),
        time.thread_time(),
        bind_request_id(request_id),
        bind_task(task_id, task.name),
    )


@task_postrun.connect
def task_ended(task_id: str | None = None, task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    entry = _running.pop(task_id, None) if task_id is not None else None
    if entry is None or task is None:
        return
    started, cpu_started, request_token, task_token = entry
    metrics.task_ran(
        task=task.name, seconds=time.perf_counter() - started, cpu_seconds=time.thread_time() - cpu_started
    )
    metrics.task_finished(task=task.name, state=state or "UNKNOWN")
    try:
        reset_task(task_token)
        reset_request_id(request_token)
    except ValueError:  # reset from another context (a pool that moved the task): nothing to undo here
        pass


@worker_init.connect
def serve_worker_metrics(**kwargs: Any) -> None:
    """A worker in its own container (docker-compose) serves its metrics on CELERY_METRICS_PORT; under
    `make run` the worker shares the web's PROMETHEUS_MULTIPROC_DIR and /metrics shows it already."""
    port = os.environ.get("CELERY_METRICS_PORT")
    if port:
        metrics.serve(port=int(port), address=os.environ.get("CELERY_METRICS_ADDRESS", "127.0.0.1"))


@worker_process_shutdown.connect
def worker_child_exited(pid: int | None = None, **kwargs: Any) -> None:
    metrics.process_exited(pid or os.getpid())
