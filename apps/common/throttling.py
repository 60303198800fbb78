"""Rate limits: 429 THROTTLED with Retry-After.

A fixed-window counter in Redis (SET NX EX and INCR in one round trip) per scope and client. DRF's own
throttles keep a pickled list of timestamps in the cache and read and write it on every request,
which costs two round trips and grows with the rate; the queue endpoints cannot afford that.
"""

import time
from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .redis import get_redis, redis_key

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period]


class ScopedUserRateThrottle(BaseThrottle):
    """Per authenticated user (per client IP for anonymous requests); rate from the view's
    `throttle_scope` in DEFAULT_THROTTLE_RATES."""

    wait_seconds = 0

    def ident(self, request: Any) -> str:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def scope_suffix(self) -> str:
        return ""

    def rate_for(self, scope: str) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(scope)

    def allow_request(self, request: Any, view: Any) -> bool:
        scope = getattr(view, "throttle_scope", None)
        rate = self.rate_for(scope) if scope else None
        if rate is None:
            return True
        limit, period = parse_rate(rate)
        window = int(time.time()) // period
        key = redis_key("throttle", f"{scope}{self.scope_suffix()}", self.ident(request), window)
        pipe = get_redis().pipeline(transaction=False)
        pipe.set(key, 0, ex=period + 1, nx=True)  # starts the window (EXPIRE NX needs Redis 7; make run has 6.2)
        pipe.incr(key)
        _, count = pipe.execute()
        if count > limit:
            self.wait_seconds = period - int(time.time()) % period
            return False
        return True

    def wait(self) -> float:
        return max(self.wait_seconds, 1)


class ScopedIPRateThrottle(ScopedUserRateThrottle):
    """Per client IP whoever is logged in: stops one address cycling through many accounts. Uses the
    `<scope>_ip` rate when one is set (an office or a mobile carrier puts many buyers behind one IP)."""

    def rate_for(self, scope: str) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(f"{scope}_ip", rates.get(scope))

    def ident(self, request: Any) -> str:
        return f"ip:{self.get_ident(request)}"

    def scope_suffix(self) -> str:
        return "-ip"


PER_USER_AND_IP = [ScopedUserRateThrottle, ScopedIPRateThrottle]
