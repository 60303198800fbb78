"""Tokens verified once per process: a buyer's access token, and a refresh token within its request.

A buyer sends the same access token with every request until it is refreshed: the line's entry, a
status poll every few seconds to a minute, the seat map, the hold, the payment. Checking it is pure
computation on the same string each time (the HS256 signature, the base64 and JSON of its parts, the
claims' shapes): about 0.1 ms of CPU on these machines, a tenth of a status poll's.

`RememberedAccessToken` (simplejwt's `AUTH_TOKEN_CLASSES`) decodes through `RememberingTokenBackend`,
which keeps the payloads of the last VERIFIED_ACCESS_TOKENS_KEPT tokens it verified (least recently
used first out). The same string verifies the same way while the signing key is the same, so a token
seen again skips the check. A refresh token is read twice in its request (the rate limit's, then the
rotation's): the second read is answered the same way (`remembering_backend("refresh")`, a few kept).

What depends on the time is checked on every use: an expired token is decoded anew, which refuses it
exactly as without the cache, and simplejwt's own `verify` (the token type and expiry) runs on every
token. Revocation (logout, a replayed refresh token, deactivation) is checked on every request, after
this (in Redis: apps.accounts.authentication, apps.queue.access; a refresh's session row). A token that
failed is never kept, so a wrong or tampered string is checked in full every time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.tokens import AccessToken


class RememberingTokenBackend:
    """simplejwt's token backend, remembering the payloads of the last `size` tokens it verified (0: none)."""

    def __init__(self, backend: TokenBackend, size: int) -> None:
        self._backend = backend
        self._leeway = backend.get_leeway().total_seconds()
        self._verified = lru_cache(maxsize=size)(self._verify) if size > 0 else None

    def _verify(self, token: str | bytes) -> Mapping[str, Any]:
        return MappingProxyType(self._backend.decode(token, verify=True))

    def decode(self, token: str | bytes, verify: bool = True) -> dict[str, Any]:
        if not verify or self._verified is None:
            return self._backend.decode(token, verify=verify)
        payload = self._verified(token)
        expires = payload.get("exp")
        if isinstance(expires, int | float) and expires <= time.time() - self._leeway:
            return self._backend.decode(token, verify=True)  # refused as it would be without the cache
        return dict(payload)  # the caller's own copy

    def forget(self) -> None:
        """Forget every token (tests)."""
        if self._verified is not None:
            self._verified.cache_clear()

    def __getattr__(self, name: str) -> Any:  # encode, get_leeway, ...: the backend's own
        return getattr(self._backend, name)


# A refresh token is checked twice in its one request (the per-user rate limit names its user, then the
# rotation reads it): the last few are kept for the second check. A refresh token rotates once, so
# keeping more would only push access tokens out of their own cache's place.
RECENT_REFRESH_TOKENS_KEPT = 64

_backends: dict[str, RememberingTokenBackend] = {}


def remembering_backend(kind: str = "access") -> RememberingTokenBackend:
    """This process's backend for access tokens, or for the refresh tokens of the requests it is
    serving (`kind="refresh"`), made on first use with the settings then in force."""
    backend = _backends.get(kind)
    if backend is None:
        from rest_framework_simplejwt.state import token_backend

        size = settings.VERIFIED_ACCESS_TOKENS_KEPT if kind == "access" else RECENT_REFRESH_TOKENS_KEPT
        backend = _backends[kind] = RememberingTokenBackend(token_backend, size)
    return backend


def reset_remembering_backend() -> None:
    """Drop this process's backends and what they remember (tests that change the settings)."""
    _backends.clear()


class RememberedAccessToken(AccessToken):
    """simplejwt's access token, verified through this process's `RememberingTokenBackend`."""

    @property
    def token_backend(self) -> Any:
        return remembering_backend()
