"""JWT authentication with revocation.

Every access token is checked against the revocation keys of `apps.accounts.revocation` (its
session's family, the user's revoked-before stamp) in one Redis round trip, so logout, a detected
refresh-token replay and deactivation end it at once on every web process. `JWTAuthentication`
loads the user row (for endpoints that need it); `StatelessJWTAuthentication` trusts the signed
claims and touches no database, for the endpoints that crowds poll (the waiting queue).
A correctly signed token whose claims this service never issues (a non-integer user id) is 401.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.models import TokenUser
from rest_framework_simplejwt.tokens import Token

from .revocation import MalformedClaims, is_token_revoked, user_id_from_claims


class ClaimsUser(TokenUser):
    """The user as the access token's claims name it, with an integer id like the real User
    (the claims were checked by `RevocationMixin` before this object is built)."""

    @cached_property
    def id(self) -> int:  # type: ignore[override]
        return user_id_from_claims(self.token)

    @cached_property
    def pk(self) -> int:  # type: ignore[override]
        return self.id


class RevocationMixin:
    def get_validated_token(self, raw_token: bytes) -> Token:
        token = super().get_validated_token(raw_token)  # type: ignore[misc]
        try:
            revoked = is_token_revoked(token.payload)
        except MalformedClaims:
            raise AuthenticationFailed("Token names no valid user.", code="token_not_valid") from None
        if revoked:
            raise AuthenticationFailed("Token has been revoked.", code="token_not_valid")
        return token


class JWTAuthentication(RevocationMixin, authentication.JWTAuthentication):
    def get_user(self, validated_token: Token) -> Any:
        user_id = user_id_from_claims(validated_token.payload)  # checked already: never raises here
        user = self.user_model.objects.filter(pk=user_id).first()
        if user is None:
            raise AuthenticationFailed("User not found.", code="user_not_found")
        if not user.is_active or user.deleted_at is not None:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        return user


class StatelessJWTAuthentication(RevocationMixin, authentication.JWTStatelessUserAuthentication):
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
