"""What gunicorn and Django refuse before any view runs still answers in the API's error shape (JSON),
over HTTP as deployed: a request line or a header over gunicorn's limits (414, 431), a Host header
that is not allowed (Django's DisallowedHost, 400)."""

import http.client
import json
from urllib.parse import urlsplit

from apps.common.server_errors import json_error_response


def raw_request(base_url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, str]:
    netloc = urlsplit(base_url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=60)  # the workers boot on a busy machine
    try:
        headers = headers or {}
        connection.putrequest("GET", path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def assert_error_shape(status: int, headers: dict, body: str, expected_status: int, code: str) -> dict:
    assert status == expected_status, body
    assert headers["Content-Type"].startswith("application/json"), headers
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]
    return error


def test_requests_over_gunicorns_limits_are_refused_in_the_error_shape(gunicorn_server):
    error = assert_error_shape(*raw_request(gunicorn_server, "/api/concerts?q=" + "x" * 9000), 414, "VALIDATION_ERROR")
    assert "request_line" in error["details"]
    error = assert_error_shape(*raw_request(gunicorn_server, "/", {"X-Big": "y" * 9000}), 431, "VALIDATION_ERROR")
    assert "headers" in error["details"]
    many_headers = {f"X-H{n}": "1" for n in range(120)}
    assert_error_shape(*raw_request(gunicorn_server, "/", many_headers), 431, "VALIDATION_ERROR")
    # Within the limits (nginx's own: 8 KiB lines and headers), a request is served as usual.
    status, _, _ = raw_request(gunicorn_server, "/api/health/live?q=" + "x" * 4000, {"X-Big": "y" * 6000})
    assert status == 200


def test_a_host_that_is_not_allowed_is_400_in_the_error_shape(gunicorn_server):
    for path in ("/api/health/live", "/"):
        answer = raw_request(gunicorn_server, path, {"Host": "attacker.example"})
        error = assert_error_shape(*answer, 400, "VALIDATION_ERROR")
        assert error["details"] == {"host": ["Not an allowed host."]}


def test_a_server_error_names_nothing_of_gunicorn():
    head, _, body = json_error_response(500, "Internal Server Error", "Traceback: secret").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500 ")
    assert json.loads(body) == {
        "error": {"code": "INTERNAL_ERROR", "message": "Something went wrong on our side.", "details": {}}
    }
