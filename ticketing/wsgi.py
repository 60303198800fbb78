import os

from django.core.wsgi import get_wsgi_application

from ticketing.watchdog import RequestWatchdog

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
application = get_wsgi_application()

# For servers with no per-request time limit of their own (Granian: scripts/crowd_server.py): a request
# running past REQUEST_TIMEOUT_SECONDS (30; 0 turns the limit off) ends its worker process, which the
# server replaces, as gunicorn's `timeout` does for its workers.
watched_application = RequestWatchdog(application, timeout=float(os.environ.get("REQUEST_TIMEOUT_SECONDS", "30")))
