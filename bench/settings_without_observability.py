"""Production settings minus the request-id and metrics middlewares: the "before" side of
bench/observability_cost.py (never used to serve anything)."""

from ticketing.settings.base import *  # noqa: F403
from ticketing.settings.base import MIDDLEWARE

OBSERVABILITY = {"apps.common.middleware.RequestIdMiddleware", "apps.common.middleware.MetricsMiddleware"}
MIDDLEWARE = [name for name in MIDDLEWARE if name not in OBSERVABILITY]
