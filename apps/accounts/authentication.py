"""JWT authentication with a logout deny-list.

Logout writes the access token's `jti` to Redis until the token would have expired, so the token
stops working at once on every web process. `JWTAuthentication` loads the user row (for endpoints
that need it); `StatelessJWTAuthentication` trusts the signed claims and touches no database, for
the endpoints that crowds poll (the waiting queue).
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.request import Request
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

from apps.common.redis import get_redis, redis_key


def denied_access_key(jti: str) -> str:
    return redis_key("auth", "denied", jti)


def deny_access_token(*, jti: str, expires_at_epoch: int) -> None:
    """Refuse an access token from now until it expires on its own."""
    ttl = max(int(expires_at_epoch - time.time()) + 1, 1)
    get_redis().set(denied_access_key(jti), "1", ex=ttl)


def is_access_denied(jti: str) -> bool:
    return bool(get_redis().exists(denied_access_key(jti)))


class ClaimsUser(TokenUser):
    """The user as the access token's claims name it, with an integer id like the real User."""

    @cached_property
    def id(self) -> int:  # type: ignore[override]
        try:
            return int(self.token[api_settings.USER_ID_CLAIM])
        except (KeyError, TypeError, ValueError):
            raise AuthenticationFailed("Token names no user.", code="token_not_valid") from None

    @cached_property
    def pk(self) -> int:  # type: ignore[override]
        return self.id


class DenyListMixin:
    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)  # type: ignore[misc]
        jti = token.get("jti")
        if not jti or is_access_denied(jti):
            raise AuthenticationFailed("Token has been revoked.", code="token_not_valid")
        return token


class JWTAuthentication(DenyListMixin, authentication.JWTAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        result = super().authenticate(request)
        if result is not None:
            user, _ = result
            if getattr(user, "deleted_at", None) is not None:
                raise AuthenticationFailed("User is inactive.", code="user_inactive")
        return result


class StatelessJWTAuthentication(DenyListMixin, authentication.JWTStatelessUserAuthentication):
    """No database: `request.user` is a TokenUser whose `id` comes from the signed claim."""

    def get_user(self, validated_token: Token) -> TokenUser:
        return ClaimsUser(validated_token)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class StatelessJWTAuthenticationScheme(JWTAuthenticationScheme):
    target_class = "apps.accounts.authentication.StatelessJWTAuthentication"
    name = "jwtStatelessAuth"
