"""Rate limits (DRF throttles backed by the Redis cache). A hit answers 429 THROTTLED with Retry-After."""

from typing import Any

from rest_framework.throttling import ScopedRateThrottle


class ScopedUserRateThrottle(ScopedRateThrottle):
    """Per authenticated user (per client IP for anonymous requests), rate from the view's scope."""

    def __init__(self) -> None:
        # Rates are read per instance so settings overrides (tests, env) take effect.
        from rest_framework.settings import api_settings

        self.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        super().__init__()


class ScopedIPRateThrottle(ScopedUserRateThrottle):
    """Per client IP whoever is logged in: stops one address cycling through many accounts."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": f"{self.scope}-ip", "ident": self.get_ident(request)}
