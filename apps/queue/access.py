"""What a waiting-room request must pass besides the queue itself, sent in the queue operation's own
Redis round trip.

The crowd's endpoints (enter, status) would otherwise pay three round trips: the access token's
revocation check (logout, a replayed refresh token, a deactivated user: `apps.accounts.revocation`),
the rate limits, then the queue script. Here the token's signature and claims are checked in
process (`QueueJWTAuthentication`, no Redis), and the revocation keys and the rate-limit counters
travel in the pipeline that carries the queue script (`AccessCheck`): one round trip on a single
Redis. The verdict is read from the same replies; a refused request that had put its user in the
line takes the entry back (a second round trip, only then). On a Redis Cluster the commands go to
their own nodes (the user's keys share the user's hash tag, the queue's the date's), which redis-py
sends as separate requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.client import Pipeline
from rest_framework import exceptions
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import Token

from apps.accounts.authentication import ClaimsUser
from apps.accounts.revocation import MalformedClaims, is_revoked, issued_at, revocation_keys
from apps.accounts.tokens import claims_email_verified
from apps.common.exceptions import EmailNotVerified
from apps.common.redis import get_redis
from apps.common.throttling import (
    UserAndIPRateThrottle,
    Window,
    count_windows,
    seconds_until_allowed,
    uncount_windows,
)


class QueueJWTAuthentication(authentication.JWTStatelessUserAuthentication):
    """The access token's signature, expiry and claims, in process. Its revocation is NOT checked
    here: a view using this must pass `AccessCheck.of(request)` to the queue service, which checks
    it in the queue operation's round trip."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)
        try:
            revocation_keys(token.payload)
            issued_at(token.payload)
        except MalformedClaims:
            raise AuthenticationFailed("Token names no valid user.", code="token_not_valid") from None
        return token

    def get_user(self, validated_token: Token) -> ClaimsUser:
        return ClaimsUser(validated_token)


class QueueJWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.queue.access.QueueJWTAuthentication"
    name = "jwtQueueAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The same access token as everywhere; a revoked one (logout, deactivated user) is "
            "refused with 401 like on every other endpoint.",
        }


def require_verified_email(request: Any) -> None:
    """Queue entry needs a verified e-mail where REQUIRE_VERIFIED_EMAIL is on (the common anti-bot
    rule): read from the access token's claims, so the entry path reads no user row.
    Raises EMAIL_NOT_VERIFIED (403)."""
    if settings.REQUIRE_VERIFIED_EMAIL and not claims_email_verified(request.auth.payload):
        raise EmailNotVerified()


@dataclass(frozen=True, kw_only=True)
class AccessCheck:
    """The request's access token must not be revoked, and the request must fit its rate limits."""

    revocation_keys: tuple[str, str]
    issued_at: float
    windows: tuple[Window, ...] = ()

    @classmethod
    def of(cls, request: Any, *, throttle_scope: str | None = None) -> AccessCheck:
        """For a request authenticated by QueueJWTAuthentication; `throttle_scope` names the rate
        limits (per user and per IP) the request counts against, if any."""
        windows: Sequence[Window | None] = (
            UserAndIPRateThrottle().windows(request, throttle_scope) if throttle_scope else ()
        )
        return cls.of_claims(request.auth.payload, windows=tuple(w for w in windows if w is not None))

    @classmethod
    def of_claims(cls, claims: dict[str, Any], *, windows: tuple[Window, ...] = ()) -> AccessCheck:
        """For a validated access token's claims (QueueJWTAuthentication checked them)."""
        return cls(revocation_keys=revocation_keys(claims), issued_at=issued_at(claims), windows=windows)

    def queue(self, pipe: Pipeline) -> None:
        """Add the check's commands to a pipeline (their replies go to `enforce`)."""
        for key in self.revocation_keys:  # GETs, not MGET: a cluster pipeline refuses multi-key commands
            pipe.get(key)
        count_windows(pipe, self.windows)

    def enforce(self, replies: Sequence[Any]) -> None:
        """Raise 401 (revoked) or 429 (THROTTLED, with the wait) from the replies of `queue`."""
        revoked_before, family_revoked = replies[:2]
        if is_revoked(issued_at=self.issued_at, revoked_before=revoked_before, family_revoked=family_revoked):
            raise AuthenticationFailed("Token has been revoked.", code="token_not_valid")
        wait = seconds_until_allowed(self.windows, replies[2:])
        if wait is not None:
            uncount_windows(self.windows)  # a refused request does not count (a second round trip, refusals only)
            raise exceptions.Throttled(wait=max(wait, 1))

    def check_now(self) -> None:
        """The check in a round trip of its own, for a request that must not act before it passes."""
        pipe = get_redis().pipeline(transaction=False)
        self.queue(pipe)
        self.enforce(pipe.execute())
