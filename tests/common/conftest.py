"""Fixtures of the cross-cutting tests."""

from pathlib import Path

import pytest
from rest_framework.settings import api_settings

from tests.common.outbox_effects import at_commit_ran, batches, failures_left, many_failures_left, performed
from tests.web.browser import ARGS, CHROMIUM, playwright


@pytest.fixture
def rates(settings):
    def set_rates(**overrides: str) -> None:
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK, DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, **overrides)
        )

    return set_rates


@pytest.fixture(scope="module")
def page_errors():
    """Opens a page in a browser of the module's own; returns it with the list its uncaught errors and
    Content-Security-Policy violations go to."""
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (make test installs it)"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)

        def open_page():
            errors: list[str] = []
            page = browser.new_context().new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
            return page, errors

        yield open_page
        browser.close()


@pytest.fixture(autouse=True)
def _reset_outbox_effects():
    """The test effects start every test with nothing performed and no failure pending."""
    performed.clear()
    at_commit_ran.clear()
    failures_left["count"] = 0
    batches.clear()
    many_failures_left["count"] = 0
