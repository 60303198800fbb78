"""Django's middlewares for the site's pages (the admin, the check-in page), passed by for the API.

Sessions, the logged-in user and messages serve pages a browser logs into with a session cookie.
Every view under /api/ is a DRF view that authenticates a bearer token (no session authentication is
configured), so for the API these three did work nobody read: a session store and a message store
made for every request, about 150 µs of CPU, a sixth of a cheap request
(`bench/site_middleware_cost.py`). They are subclasses of Django's own, so the admin's checks that it
has them hold; for any other path they run exactly as Django's do. Django's CSRF middleware stays as it
is everywhere (DRF exempts its views, and `check --deploy` looks for Django's own by name).
tests/common/test_site_middleware.py checks that every /api/ route is a DRF view, which is what makes
passing them by safe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest

from .middleware import is_api_request


class SiteOnly:
    """A middleware that passes API requests straight on."""

    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> Any:
        if is_api_request(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(SiteOnly, DjangoSessionMiddleware):
    pass


class AuthenticationMiddleware(SiteOnly, DjangoAuthenticationMiddleware):
    pass


class MessageMiddleware(SiteOnly, DjangoMessageMiddleware):
    pass
