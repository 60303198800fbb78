"""A WSGI application for the request watchdog's test under a real Granian: /pid answers the worker's
process id, /stuck never answers (as a request blocked on a dead dependency would not)."""

import os
import time

from ticketing.watchdog import RequestWatchdog


def _application(environ, start_response):
    if environ["PATH_INFO"] == "/stuck":
        time.sleep(3600)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]


application = RequestWatchdog(_application, timeout=1.0, interval=0.2)
