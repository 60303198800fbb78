"""The site's middlewares (sessions, the logged-in user, messages) run for the site's pages and are
passed by for the API (apps/common/site_middleware.py); the CSRF check stays everywhere."""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from tests.factories import DEFAULT_PASSWORD, UserFactory


def api_routes(patterns: list, prefix: str = "") -> list[tuple[str, object]]:
    routes = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            routes += api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            routes.append((prefix + str(entry.pattern), entry.callback))
    return [(route, view) for route, view in routes if route.startswith("api/")]


def test_every_api_route_is_a_drf_view_exempt_from_the_session_csrf_check():
    """What makes passing the site's middlewares by safe for /api/: no view there reads a session, and
    none relies on Django's CSRF check (DRF exempts its views; no session authentication is configured)."""
    routes = api_routes(get_resolver().url_patterns)
    assert len(routes) > 20
    for route, view in routes:
        view_class = getattr(view, "cls", None) or getattr(getattr(view, "__wrapped__", None), "cls", None)
        assert view_class is not None and issubclass(view_class, APIView), route
        assert getattr(view, "csrf_exempt", False), route


@pytest.mark.django_db
def test_an_api_answer_makes_no_session_and_no_cookie():
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "x" * 32
    client.cookies["csrftoken"] = "y" * 32
    response = client.get("/api/health/live")
    assert response.status_code == 200
    assert not hasattr(response.wsgi_request, "session")
    assert not hasattr(response.wsgi_request, "_messages")
    assert response.cookies == {}
    assert "Cookie" not in response.get("Vary", "")
    # A bearer-token POST needs no CSRF token, as before.
    assert (
        client.post("/api/auth/login", {"email": "a@example.com", "password": "no"}, "application/json").status_code
        == 401
    )


@pytest.mark.django_db
def test_the_site_keeps_its_sessions_and_its_csrf_check():
    staff = UserFactory(role="STAFF", is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    page = client.get("/admin/login/")
    assert page.status_code == 200
    assert "csrftoken" in page.cookies
    # Without the token the login form is refused; with it the staff member is logged in by session.
    refused = client.post("/admin/login/", {"username": staff.email, "password": DEFAULT_PASSWORD})
    assert refused.status_code == 403
    token = page.cookies["csrftoken"].value
    logged_in = client.post(
        "/admin/login/?next=/admin/",
        {"username": staff.email, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert logged_in.status_code == 302
    assert "sessionid" in logged_in.cookies
    assert client.get("/admin/").status_code == 200


def test_the_admin_checks_find_the_middlewares_it_needs():
    call_command("check", "--fail-level", "ERROR")
