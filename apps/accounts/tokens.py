"""The signed e-mail verification token: made by the mail task, read by the verify-email service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import signing

from .models import User

EMAIL_VERIFICATION_SALT = "accounts.email-verification"
# Whether the account's e-mail was verified when the access token was issued: the queue entry, which
# authenticates from the claims alone, checks it without reading the user row. A buyer who verifies
# refreshes the token to carry the new value.
EMAIL_VERIFIED_CLAIM = "email_verified"


def claims_email_verified(claims: Mapping[str, Any]) -> bool:
    """True only for a token that says so (one minted without the claim is not verified)."""
    return claims.get(EMAIL_VERIFIED_CLAIM) is True


def make_email_verification_token(*, user: User) -> str:
    """A token naming the user and the address it was mailed to (a later change of address voids it)."""
    return signing.dumps({"uid": user.pk, "email": user.email}, salt=EMAIL_VERIFICATION_SALT)


def read_email_verification_token(token: str) -> tuple[object, object] | None:
    """(user id, e-mail) of a well-signed token younger than EMAIL_VERIFICATION_MAX_AGE_SECONDS, else None."""
    try:
        data = signing.loads(token, salt=EMAIL_VERIFICATION_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    return data.get("uid"), data.get("email")
