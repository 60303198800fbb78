"""Rate limits: 429 THROTTLED with Retry-After.

Fixed-window counters in Redis: per window, `SET key 0 EX period NX` then `INCR key`, every counter a
request touches in one pipelined round trip (EXPIRE NX would be shorter but needs Redis 7, and
`make run` embeds 6.2). DRF's own throttles keep a pickled list of timestamps in the cache, read and
write it on every request and grow with the rate; the queue endpoints cannot afford that.

The client's address is DRF's `get_ident`: with `NUM_PROXIES=0` (the default) the TCP peer
(REMOTE_ADDR); behind N trusted reverse proxies set `NUM_PROXIES=N` and it is the address the
outermost of them appended to `X-Forwarded-For` (the N-th from the right), which a client cannot forge.
Without it, every buyer behind the proxy shares the proxy's address and its per-IP budgets.
"""

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .redis import get_redis, redis_key

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period]


class Window(NamedTuple):
    key: str
    limit: int
    period: int


def count_windows(pipe: Any, windows: Sequence[Window]) -> None:
    """Queue the commands that count a request in every window (two replies per window), so that a
    caller already making a round trip can carry them in it (the waiting room does)."""
    for window in windows:
        pipe.set(window.key, 0, ex=window.period + 1, nx=True)
        pipe.incr(window.key)


def seconds_until_allowed(windows: Sequence[Window], replies: Sequence[Any]) -> int | None:
    """From the replies of `count_windows`: None when the request fits every window, else how long
    until the last window it is over resets."""
    counts = replies[1 : 2 * len(windows) : 2]
    over = [w for w, count in zip(windows, counts, strict=True) if count > w.limit]
    if not over:
        return None
    now = int(time.time())
    return max(w.period - now % w.period for w in over)


class RedisRateThrottle(BaseThrottle):
    """Counts the request in every window `windows()` names, in one round trip; refuses it when any
    window is over its limit. Rates come from the view's `throttle_scope` in DEFAULT_THROTTLE_RATES."""

    wait_seconds = 0

    def windows(self, request: Any, scope: str) -> list[Window]:
        raise NotImplementedError

    def window(self, scope: str, rate_name: str, ident: str) -> Window | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(rate_name)
        if rate is None:
            return None
        limit, period = parse_rate(rate)
        return Window(redis_key("throttle", scope, ident, int(time.time()) // period), limit, period)

    def user_ident(self, request: Any) -> str:
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def ip_window(self, request: Any, scope: str) -> Window | None:
        # `<scope>_ip` when set: an office or a mobile carrier puts many buyers behind one address.
        rates = api_settings.DEFAULT_THROTTLE_RATES
        name = f"{scope}_ip" if f"{scope}_ip" in rates else scope
        return self.window(f"{scope}-ip", name, f"ip:{self.get_ident(request)}")

    def allow_request(self, request: Any, view: Any) -> bool:
        # DRF throttles before it looks for the method's handler: a PUT or OPTIONS on the login
        # endpoint would use up the budget of real attempts and only then answer 405 (or metadata).
        if request.method == "OPTIONS" or not hasattr(view, request.method.lower()):
            return True
        scope = getattr(view, "throttle_scope", None)
        return self.allow(self.windows(request, scope) if scope else [])

    def allow(self, windows: list[Window | None]) -> bool:
        """Count one request in every window; False (and `wait()` set) when any is over its limit."""
        windows = [w for w in windows if w is not None]
        if not windows:
            return True
        pipe = get_redis().pipeline(transaction=False)
        count_windows(pipe, windows)
        wait = seconds_until_allowed(windows, pipe.execute())
        if wait is not None:
            self.wait_seconds = wait
            return False
        return True

    def wait(self) -> float:
        return max(self.wait_seconds, 1)


class ScopedUserRateThrottle(RedisRateThrottle):
    """Per authenticated user (per client IP for anonymous requests)."""

    def windows(self, request: Any, scope: str) -> list[Window | None]:
        return [self.window(scope, scope, self.user_ident(request))]


class ScopedIPRateThrottle(RedisRateThrottle):
    """Per client IP whoever is logged in: stops one address cycling through many accounts."""

    def windows(self, request: Any, scope: str) -> list[Window | None]:
        return [self.ip_window(request, scope)]


class UserAndIPRateThrottle(RedisRateThrottle):
    """Both limits of the buying endpoints (queue entry, hold, payment), counted in one round trip."""

    def windows(self, request: Any, scope: str) -> list[Window | None]:
        return [self.window(scope, scope, self.user_ident(request)), self.ip_window(request, scope)]


PER_USER_AND_IP = [UserAndIPRateThrottle]
