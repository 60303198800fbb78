"""Revoking access tokens before they expire: per session (token family) and per user.

An access token is a signed, stateless JWT. Three events must end it early:

- logout ends every token of that session (the whole family: the refresh token presented, every
  access token issued from it or its ancestors);
- a replayed, already rotated refresh token means it was stolen: the family is revoked;
- deactivating (or soft-deleting) a user ends every token the user holds, on every endpoint,
  including the waiting-room endpoints that authenticate without the database.

Every token issued at login carries a `fam` claim (the family id), kept through every rotation and
copied into each access token. Revocation is two Redis keys per token, both under the user's hash
tag so one MGET (or one pipeline slot in Redis Cluster) reads them:

    <prefix>auth:{u<user_id>}:revoked_before      epoch seconds (to the millisecond); tokens issued before it are dead
    <prefix>auth:{u<user_id>}:family:<fam>        "1" while the family is revoked

Both expire after one access-token lifetime: by then every access token they could refuse has
expired on its own. Refresh tokens are refused durably by the database (TokenFamily.revoked_at and
refresh_jti, the user's is_active), so Redis holds only what the stateless check needs.

The decision itself is the pure `is_revoked()` (and the same rule in `LUA_IS_REVOKED` for a script):
a caller that already makes a Redis round trip (the waiting queue) reads the two keys of
`revocation_keys()` in that same round trip and decides without another.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.common.redis import get_redis, redis_key

FAMILY_CLAIM = "fam"
# When the token was issued, in epoch milliseconds: `iat` has whole seconds, and a user who changes the
# password and logs in again within the second must get a token that the revocation does not refuse.
ISSUED_AT_MS_CLAIM = "iat_ms"


class MalformedClaims(ValueError):
    """The token's claims do not name a user (or an issue time) the way this service issues them."""


def user_id_from_claims(claims: Mapping[str, Any]) -> int:
    """The integer user id of a token: simplejwt writes it as a string of digits. Anything else
    (a correctly signed token with `"user_id": "abc"`, a list, a bool) is malformed, never a 500."""
    raw = claims.get(jwt_settings.USER_ID_CLAIM)
    if isinstance(raw, bool):
        raise MalformedClaims("user id")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
    else:
        raise MalformedClaims("user id")
    if not 0 < value < 2**63:
        raise MalformedClaims("user id")
    return value


def family_of(claims: Mapping[str, Any]) -> str:
    """The token's family (session) id. A token minted without one (by hand, in a benchmark) is a
    family of its own, named by its jti, so logging it out still refuses exactly that token."""
    family = claims.get(FAMILY_CLAIM) or claims.get(jwt_settings.JTI_CLAIM)
    if not isinstance(family, str) or not family or len(family) > 64:
        raise MalformedClaims("family")
    return family


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def issued_at(claims: Mapping[str, Any]) -> float:
    """When the token was issued, in epoch seconds: to the millisecond when it says so (every token
    this service issues), else its whole-second `iat` (a token minted by hand)."""
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise MalformedClaims("iat")
    iat_ms = claims.get(ISSUED_AT_MS_CLAIM)
    if isinstance(iat_ms, int) and not isinstance(iat_ms, bool) and int(iat) * 1000 <= iat_ms < (int(iat) + 1) * 1000:
        return iat_ms / 1000
    return int(iat)


# --- Key names --------------------------------------------------------------------------------


def user_revoked_before_key(user_id: int) -> str:
    return redis_key("auth", f"{{u{user_id}}}", "revoked_before")


def family_revoked_key(user_id: int, family: str) -> str:
    return redis_key("auth", f"{{u{user_id}}}", "family", family)


def revocation_keys(claims: Mapping[str, Any]) -> tuple[str, str]:
    """The two keys to read for a token, in the order `is_revoked()` takes their values:
    (user's revoked_before stamp, family flag). Raises MalformedClaims."""
    user_id = user_id_from_claims(claims)
    return user_revoked_before_key(user_id), family_revoked_key(user_id, family_of(claims))


# --- The decision -----------------------------------------------------------------------------


def is_revoked(*, issued_at: float, revoked_before: str | bytes | None, family_revoked: str | bytes | None) -> bool:
    """Whether a token issued at `issued_at` (epoch seconds) is revoked, given the values of its
    `revocation_keys()` (None for a missing key). Pure: no I/O."""
    if family_revoked is not None:
        return True
    return revoked_before is not None and issued_at < float(revoked_before)


# The same rule for a Lua script that has already read the two keys (missing keys are false):
#   local revoked = is_revoked(tonumber(ARGV_iat), redis.call('GET', k1), redis.call('GET', k2))
LUA_IS_REVOKED = """
local function is_revoked(iat, revoked_before, family_revoked)
  if family_revoked then return true end
  return revoked_before ~= false and revoked_before ~= nil and iat < tonumber(revoked_before)
end
"""


def is_token_revoked(claims: Mapping[str, Any]) -> bool:
    """One Redis round trip (MGET of the two keys). Raises MalformedClaims for claims this service
    never issues, and redis errors when Redis is down (the request then answers 503)."""
    keys = revocation_keys(claims)
    revoked_before, family_revoked = get_redis().mget(keys)
    return is_revoked(issued_at=issued_at(claims), revoked_before=revoked_before, family_revoked=family_revoked)


# --- Writing revocations ----------------------------------------------------------------------


def _ttl_seconds() -> int:
    # Long enough to outlive every access token it refuses (refresh tokens are refused by the DB).
    return int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()) + 60


def revoke_family(*, user_id: int, family: str) -> None:
    """Refuse every access token of the family from now on (the database refuses its refresh tokens)."""
    get_redis().set(family_revoked_key(user_id, family), "1", ex=_ttl_seconds())


def revoke_user_tokens(*, user_id: int) -> None:
    """Refuse every token issued to the user until now (this millisecond included; a token without
    `iat_ms` issued this second too). Tokens issued later (a login with the new password, after a
    reactivation) are not affected."""
    stamp = (int(time.time() * 1000) + 1) / 1000
    get_redis().set(user_revoked_before_key(user_id), f"{stamp:.3f}", ex=_ttl_seconds())
