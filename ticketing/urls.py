from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.common.converters import IdConverter
from apps.common.views import HealthApi, HealthLiveApi, HealthReadyApi, metrics_view

register_converter(IdConverter, "id")

api_patterns = [
    path("health", HealthApi.as_view(), name="health"),
    path("health/live", HealthLiveApi.as_view(), name="health-live"),
    path("health/ready", HealthReadyApi.as_view(), name="health-ready"),
    path("schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs",
        # The split view serves Swagger UI's start-up script from a URL (script-src 'self'), not inline.
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema", authentication_classes=[], permission_classes=[])
        ),
        name="docs",
    ),
    path("", include("apps.accounts.urls")),
    path("", include("apps.concerts.urls")),
    path("", include("apps.queue.urls")),
    path("", include("apps.reservations.urls")),
    path("", include("apps.tickets.urls")),
    path("", include("apps.payments.urls")),
]

urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("", include("apps.web.urls")),
]

handler400 = "apps.common.views.json_bad_request"
handler404 = "apps.common.views.json_not_found"
handler500 = "apps.common.views.json_server_error"
