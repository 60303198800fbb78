"""Sending an e-mail at most once per cause."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from .models import SentEmail


def outbox_mail_key(event_id: int) -> str:
    """The key of the e-mail an outbox event sends (also what purging the event removes)."""
    return f"outbox:{event_id}"


def send_mail_once(*, key: str, subject: str, message: str, recipient: str, connection: Any = None) -> bool:
    """Send the e-mail unless one was sent already under `key` (e.g. `outbox:<event id>`); True if sent.

    The key is recorded in the same transaction that hands the message to the mail server: a send
    that fails rolls the record back (the task retries), and a second sender blocks on the first's
    uncommitted key, then finds it and sends nothing. What remains is the one unavoidable window of
    any SMTP client, a crash after the server accepted the message and before the commit.
    `connection` (Django's `get_connection()`, opened) lets many sends share one mail-server session."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                SentEmail.objects.create(key=key)
        except IntegrityError:
            return False
        send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[recipient],
            connection=connection,
        )
    return True
