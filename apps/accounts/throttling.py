"""The refresh endpoint's rate limit, and the per-account lockout after failed logins.

The refresh endpoint's rate limit: per user (the refresh token's), not only per client IP.

Buyers behind one office NAT or carrier gateway share an address; counting their refreshes in one
per-IP bucket (with logins, as it once was) let ten of them lock everyone there out, and the page
then logs them out. Each user's refreshes count against the user's own budget (`refresh`); the
address still gets a generous ceiling (`refresh_ip`). A token that does not verify counts against
the address under the per-user rate: guessing costs the guesser, not the office.
"""

import hashlib
from typing import Any

from django.conf import settings
from rest_framework.exceptions import Throttled

from apps.common.redis import get_redis, redis_key
from apps.common.throttling import RedisRateThrottle, Window

from . import services


class RefreshRateThrottle(RedisRateThrottle):
    def windows(self, request: Any, scope: str) -> list[Window | None]:
        raw = request.data.get("refresh") if isinstance(request.data, dict) else None
        user_id = services.refresh_token_user_id(refresh=raw) if isinstance(raw, str) else None
        ident = f"user:{user_id}" if user_id is not None else f"ip:{self.get_ident(request)}"
        return [self.window(scope, scope, ident), self.ip_window(request, scope)]


# --- Per-account lockout ------------------------------------------------------------------------
#
# The per-IP login limit does not stop a password guesser with many addresses. So each e-mail has a
# budget of failed logins too: after LOGIN_LOCKOUT_FAILURES within LOGIN_LOCKOUT_SECONDS (counted from
# the first), its logins are 429 THROTTLED with Retry-After until that window ends, whatever the
# address, and they cost no password hashing. A successful login clears the count. Unknown e-mails
# are counted alike, so the answer says nothing about whether an account exists. The price of any
# lockout is that a stranger can lock an account for a while by failing on purpose; the window is
# short for that reason.


class AccountLockedOut(Throttled):
    default_detail = "Too many failed logins for this account. Try again later."


def _failures_key(email: str) -> str:
    # Hashed: the key space holds no e-mail addresses (Redis is not where personal data lives).
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return redis_key("throttle", "login-failures", digest)


def check_not_locked_out(*, email: str) -> None:
    """Raise AccountLockedOut (429, Retry-After) while the e-mail has used up its failed logins."""
    pipe = get_redis().pipeline(transaction=False)
    key = _failures_key(email)
    pipe.get(key)
    pipe.ttl(key)
    failures, ttl = pipe.execute()
    if int(failures or 0) >= settings.LOGIN_LOCKOUT_FAILURES:
        raise AccountLockedOut(wait=max(int(ttl), 1))


def record_failed_login(*, email: str) -> None:
    pipe = get_redis().pipeline(transaction=False)
    key = _failures_key(email)
    pipe.set(key, 0, ex=settings.LOGIN_LOCKOUT_SECONDS, nx=True)
    pipe.incr(key)
    pipe.execute()


def clear_failed_logins(*, email: str) -> None:
    get_redis().delete(_failures_key(email))
