"""The refresh endpoint's rate limit: per user (the refresh token's), not only per client IP.

Buyers behind one office NAT or carrier gateway share an address; counting their refreshes in one
per-IP bucket (with logins, as it once was) let ten of them lock everyone there out, and the page
then logs them out. Each user's refreshes count against the user's own budget (`refresh`); the
address still gets a generous ceiling (`refresh_ip`). A token that does not verify counts against
the address under the per-user rate: guessing costs the guesser, not the office.
"""

from typing import Any

from apps.common.throttling import RedisRateThrottle, Window

from . import services


class RefreshRateThrottle(RedisRateThrottle):
    def windows(self, request: Any, scope: str) -> list[Window | None]:
        raw = request.data.get("refresh") if isinstance(request.data, dict) else None
        user_id = services.refresh_token_user_id(refresh=raw) if isinstance(raw, str) else None
        ident = f"user:{user_id}" if user_id is not None else f"ip:{self.get_ident(request)}"
        return [self.window(scope, scope, ident), self.ip_window(request, scope)]
