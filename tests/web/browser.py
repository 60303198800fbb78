"""Driving the buyer's page in a real browser: Debian's Chromium under Playwright. Every page must come
with the service's strict Content-Security-Policy and run under it without a violation."""

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


expect = playwright.expect


class BrowserErrors(list):
    """From every watched page: uncaught errors, Content-Security-Policy violations, and documents
    served without a strict policy (one that allows inline code or eval would hide a regression)."""

    def watch(self, page) -> None:
        page.on("pageerror", lambda exc: self.append(str(exc)))
        page.on("console", lambda m: self.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("response", self._check_policy)

    def _check_policy(self, response) -> None:
        if response.request.resource_type != "document":
            return
        policy = response.headers.get("content-security-policy", "")
        if "default-src 'self'" not in policy or "unsafe-" in policy:
            self.append(f"{response.url} is served without a strict Content-Security-Policy: {policy!r}")


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def log_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/#/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"#/concerts"))


def seat_button(page, seat_id: int):
    return page.locator(f'button[data-seat-id="{seat_id}"]')
