"""Logs as JSON lines, each carrying the id of the request (or of the request that enqueued the Celery
task) it was written for.

The id comes from the client's `X-Request-ID` when that is a sane token, else it is made here; the
response returns it in `X-Request-ID`, and tasks sent while handling the request carry it in a message
header (apps.common.task_signals), so one id follows a purchase from the HTTP request into the worker.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_task: ContextVar[tuple[str, str] | None] = ContextVar("task", default=None)

# What a client may send as its own id: a token that cannot break a log line or a header.
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """The client's id if it is acceptable, else a new one."""
    if value and _ACCEPTED_ID.match(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(value: str | None) -> Any:
    """Set the id for the code that runs next in this context; returns the token to reset it with."""
    return _request_id.set(value)


def reset_request_id(token: Any) -> None:
    _request_id.reset(token)


def bind_task(task_id: str, name: str) -> Any:
    return _task.set((task_id, name))


def reset_task(token: Any) -> None:
    _task.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts `request_id` (and, inside a Celery task, `task_id`/`task_name`) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        task = _task.get()
        if task is not None and not hasattr(record, "task_id"):
            record.task_id, record.task_name = task
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, the
    task for Celery records, `extra=` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
