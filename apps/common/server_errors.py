"""gunicorn's own error answers (a request line or headers over its limits: 414, 431; a request it
cannot parse: 400) in the API's error shape instead of gunicorn's HTML page.

gunicorn writes these before any application code runs, through `gunicorn.util.write_error`, and has
no setting for their body, so gunicorn.conf.py installs `write_json_error` in its place. Plain Python
on purpose: it runs in gunicorn's master, where Django is not set up.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable

from .error_codes import ErrorCode

# What each part of the request that gunicorn refuses is called in `details`.
_DETAILS = {414: "request_line", 431: "headers"}


def error_code_for(status: int) -> ErrorCode:
    if status >= 500:
        return ErrorCode.INTERNAL_ERROR
    if status == 403:
        return ErrorCode.PERMISSION_DENIED
    return ErrorCode.VALIDATION_ERROR


def json_error_response(status: int, reason: str, message: str) -> bytes:
    code = error_code_for(status)
    # gunicorn's text of a server error may name internals; a client error's says what was refused.
    message = "Something went wrong on our side." if code is ErrorCode.INTERNAL_ERROR else (message or reason)
    details = {_DETAILS[status]: [message]} if status in _DETAILS else {}
    body = json.dumps({"error": {"code": code.value, "message": message, "details": details}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def json_error_writer(write_nonblock: Callable[[socket.socket, bytes], object]) -> Callable[..., None]:
    """A replacement for `gunicorn.util.write_error(sock, status_int, reason, mesg)`."""

    def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        write_nonblock(sock, json_error_response(int(status_int), reason, mesg))

    return write_json_error
