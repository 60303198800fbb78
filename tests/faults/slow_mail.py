"""Settings for Celery workers started by the queue tests: production settings with a slow mail
server (every message takes SLOW_MAIL_SECONDS), so a few thousand e-mails keep a worker busy for minutes.

    DJANGO_SETTINGS_MODULE=tests.faults.slow_mail celery -A ticketing worker ...
"""

import os
import time

from django.core.mail.backends.base import BaseEmailBackend

from ticketing.settings.base import *  # noqa: F403

EMAIL_BACKEND = "tests.faults.slow_mail.SlowEmailBackend"
SLOW_MAIL_SECONDS = float(os.environ.get("SLOW_MAIL_SECONDS", "0.2"))


class SlowEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        time.sleep(SLOW_MAIL_SECONDS * len(email_messages))
        return len(email_messages)
