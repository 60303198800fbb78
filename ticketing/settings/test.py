"""Settings for the test suite: MariaDB/MySQL and a real Redis, as in production.

TEST_DATABASE_URL / TEST_REDIS_URL let two checkouts run their suites side by side.
"""

import base64
import os
import tempfile

os.environ.setdefault("DATABASE_URL", os.environ.get("TEST_DATABASE_URL", "mysql://root:@127.0.0.1:3306/test"))
os.environ.setdefault("REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1"))
os.environ.setdefault("EMAIL_URL", "consolemail://")
# Plain HTTP and no collected static files, as in development (pytest-django still runs each test
# with settings.DEBUG False); the production security settings have their own tests.
os.environ.setdefault("DEBUG", "True")
# A fresh ticket-signing key per test run (any 32 random bytes are an Ed25519 private key); the
# servers and commands the tests start inherit it.
os.environ.setdefault("TICKET_SIGNING_KEY", base64.b64encode(os.urandom(32)).decode())

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK

CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Password-hashing slots of this test process alone (helpers' runs share the machine), and enough
# of them that only the tests about the cap meet it.
PASSWORD_HASHING_SLOTS_DIR = tempfile.mkdtemp(prefix="ticketing-hashing-test-")
PASSWORD_HASHING_CONCURRENCY = 64
# Race tests fire hundreds of requests from one "client"; throttling has its own tests.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "100000/min")
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
