"""Rate limits: 429 THROTTLED with Retry-After.

Sliding-window counters in Redis. A limit of N per period counts requests in fixed windows of one period
and weighs the previous window by how much of it still lies within the last period: at 10 s into a
minute window, the estimate is `previous * 50/60 + current`. A fixed window lets a client spend its
whole budget at :59 and again at :00; here the second burst is refused until the first has slid out.
Per window a request costs three commands (`SET key 0 EX 2*period NX`, `INCR key`, `GET previous`),
every counter a request touches in one pipelined round trip: no read-modify-write (INCR is atomic),
and a caller already making a round trip carries them in it (the waiting room does). EXPIRE NX would
save a command but needs Redis 7, and `make run` may embed 6.2. DRF's own throttles keep a pickled
list of timestamps in the cache, read and write it on every request and grow with the rate; the queue
endpoints cannot afford that.

The client's address is DRF's `get_ident`: with `NUM_PROXIES=0` (the default) the TCP peer
(REMOTE_ADDR); behind N trusted reverse proxies set `NUM_PROXIES=N` and it is the address the
outermost of them appended to `X-Forwarded-For` (the N-th from the right), which a client cannot forge.
Without it, every buyer behind the proxy shares the proxy's address and its per-IP budgets.
"""

import math
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .redis import get_redis, redis_key

PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
REPLIES_PER_WINDOW = 3


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period]


class Window(NamedTuple):
    """One limit of one client: `limit` requests per `period` seconds, counted under `key` (the window
    that holds `at`) and weighed with `previous_key` (the window before it)."""

    key: str
    previous_key: str
    limit: int
    period: int
    at: float  # when the request was counted (epoch seconds)

    @property
    def elapsed_fraction(self) -> float:
        return (self.at % self.period) / self.period


def make_window(name: str, limit: int, period: int, *, at: float | None = None) -> Window:
    """The window of the limit `name` (scope and client, already a Redis key prefix part) at `at`."""
    at = time.time() if at is None else at
    index = int(at // period)
    return Window(redis_key("throttle", name, index), redis_key("throttle", name, index - 1), limit, period, at)


def count_windows(pipe: Any, windows: Sequence[Window]) -> None:
    """Queue the commands that count a request in every window (REPLIES_PER_WINDOW replies each), so
    that a caller already making a round trip can carry them in it."""
    for window in windows:
        pipe.set(window.key, 0, ex=2 * window.period + 1, nx=True)
        pipe.incr(window.key)
        pipe.get(window.previous_key)


def _estimate(window: Window, current: int, previous: int) -> float:
    return previous * (1 - window.elapsed_fraction) + current


def _seconds_until_under(window: Window, current: int, previous: int) -> int:
    """How long until one more request fits the window (estimate + 1 <= limit), should no other arrive."""
    # Within this window the previous one's weight falls off linearly: previous*(1-f) + current + 1 <= limit.
    room = window.limit - current - 1
    if room >= 0 and previous > 0:
        fraction = 1 - room / previous
        return max(1, math.ceil((fraction - window.elapsed_fraction) * window.period))
    # Else in the next window, where this one is the previous: current*(1-f) + 1 <= limit.
    rest_of_window = (1 - window.elapsed_fraction) * window.period
    fraction = max(0.0, 1 - (window.limit - 1) / current) if current else 0.0
    return max(1, math.ceil(rest_of_window + fraction * window.period))


def seconds_until_allowed(windows: Sequence[Window], replies: Sequence[Any]) -> int | None:
    """From the replies of `count_windows`: None when the request fits every window, else how long
    until it would fit the windows it is over. A refused request is given back (`uncount_windows`)
    by the caller, so the wait is computed without it."""
    waits = []
    for n, window in enumerate(windows):
        current = int(replies[REPLIES_PER_WINDOW * n + 1])
        previous = int(replies[REPLIES_PER_WINDOW * n + 2] or 0)
        if _estimate(window, current, previous) > window.limit:
            waits.append(_seconds_until_under(window, current - 1, previous))
    return max(waits) if waits else None


def uncount_windows(windows: Sequence[Window]) -> None:
    """Give back a request counted in `windows` that the server could not serve through no fault of
    the client (it retries, and must not pay twice)."""
    if not windows:
        return
    pipe = get_redis().pipeline(transaction=False)
    for window in windows:
        pipe.decr(window.key)
    pipe.execute()


class RedisRateThrottle(BaseThrottle):
    """Counts the request in every window `windows()` names, in one round trip; refuses it when any
    window is over its limit. Rates come from the view's `throttle_scope` in DEFAULT_THROTTLE_RATES."""

    wait_seconds = 0
    counted: list[Window] = []  # the windows an allowed request was counted in (`uncount_windows`)

    def windows(self, request: Any, scope: str) -> list[Window]:
        raise NotImplementedError

    def window(self, scope: str, rate_name: str, ident: str) -> Window | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(rate_name)
        if rate is None:
            return None
        limit, period = parse_rate(rate)
        return make_window(f"{scope}:{ident}", limit, period)

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
        allowed = self.allow(self.windows(request, scope) if scope else [])
        if allowed:
            # For a view that must give the request back when the server, not the client, fails it.
            request.counted_throttle_windows = [*getattr(request, "counted_throttle_windows", []), *self.counted]
        return allowed

    def allow(self, windows: list[Window | None]) -> bool:
        """Count one request in every window; False (and `wait()` set) when any is over its limit."""
        windows = [w for w in windows if w is not None]
        if not windows:
            return True
        pipe = get_redis().pipeline(transaction=False)
        count_windows(pipe, windows)
        wait = seconds_until_allowed(windows, pipe.execute())
        if wait is not None:
            uncount_windows(windows)  # only served requests count: hammering does not push the wait back
            self.wait_seconds = wait
            return False
        self.counted = windows
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
