"""Driving the buyer's page in a real browser: Debian's Chromium under Playwright, every page served
with the strict Content-Security-Policy the service allows at most."""

import os
import re
from pathlib import Path

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
import playwright.sync_api as playwright

from tests.factories import DEFAULT_PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
# Each run writes its screenshots here (ignored by git); `SCREENSHOTS_DIR=docs/screenshots make test`
# refreshes the ones the README shows.
SHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "build/screenshots")

# What the service's Content-Security-Policy allows, at most: the page must work with no inline script
# or style and no eval. Every page is served with it (on top of whatever the server sends), and any
# violation fails the test.
STRICT_CSP = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"

expect = playwright.expect


class BrowserErrors(list):
    """Uncaught page errors and Content-Security-Policy violations, from every watched page."""

    def watch(self, page) -> None:
        page.on("pageerror", lambda exc: self.append(str(exc)))
        page.on("console", lambda m: self.append(m.text) if "Content Security Policy" in m.text else None)


def with_strict_csp(route) -> None:
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/#/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"#/concerts"))


def seat_button(page, seat_id: int):
    return page.locator(f'button[data-seat-id="{seat_id}"]')
