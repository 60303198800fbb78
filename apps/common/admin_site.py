"""The Django admin with its login rate limited like the API's (per client IP, 429 with Retry-After).

The stock admin login answers every wrong password with 200 and no limit, an open door to password
guessing against staff accounts. Installed through `ThrottledAdminConfig` in INSTALLED_APPS, so
`admin.site` (and every `@admin.register`) is this site.
"""

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse

from .throttling import ScopedIPRateThrottle

SCOPE = "admin_login"


class ThrottledAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST":
            throttle = ScopedIPRateThrottle()
            if not throttle.allow([throttle.ip_window(request, SCOPE)]):
                wait = int(throttle.wait())
                response = HttpResponse(
                    f"Too many login attempts. Try again in {wait} seconds.\n",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                )
                response["Retry-After"] = str(wait)
                return response
        return super().login(request, extra_context)


class ThrottledAdminConfig(AdminConfig):
    default_site = "apps.common.admin_site.ThrottledAdminSite"
