from celery import shared_task
from django.conf import settings

from apps.common.mail import outbox_mail_key, send_mail_once

from .selectors import get_user
from .tokens import make_email_verification_token


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_verification_email(*, user_id: int, event_id: int) -> None:
    """Queued by the outbox effect of a sign-up; sent once per event, and not to a verified address."""
    user = get_user(user_id=user_id)
    if user is None or user.email_verified:
        return
    token = make_email_verification_token(user=user)
    send_mail_once(
        key=outbox_mail_key(event_id),
        subject="Confirm your e-mail address",
        message=(
            f"Hello {user.name},\n\nconfirm your e-mail address: open the site at /#/verify?token={token}\n"
            f"or paste this code on its 'Confirm your e-mail' page (POST /api/auth/verify-email):\n\n{token}\n\n"
            f"It stays valid for {settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS // 3600} hours."
        ),
        recipient=user.email,
    )


@shared_task
def purge_expired_tokens_task() -> int:
    """Beat runs this every PURGE_INTERVAL_SECONDS (ticketing/celery.py)."""
    from .services import purge_expired_tokens

    return purge_expired_tokens()
