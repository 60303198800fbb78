"""Effects accounts owe after commit (see apps.common.outbox). Each is idempotent."""

from apps.common.models import OutboxEvent
from apps.common.outbox import effect

from .services import VERIFICATION_OWED
from .tasks import send_verification_email


@effect(VERIFICATION_OWED)
def send_verification(event: OutboxEvent) -> None:
    """A new account is sent the link to verify its e-mail: once per event (send_mail_once)."""
    send_verification_email.apply_async(kwargs={"user_id": event.payload["user_id"], "event_id": event.pk})
