from pathlib import Path

import pytest

from tests.web.browser import ARGS, CHROMIUM, SHOTS, BrowserErrors, playwright


@pytest.fixture(scope="session")
def browser():
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (make test installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def errors():
    found = BrowserErrors()
    yield found
    assert not found, found


@pytest.fixture
def new_page(browser, errors):
    """A page in its own context (its own sessionStorage and HTTP cache: its own buyer)."""
    contexts = []

    def open_page(width: int = 1100, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        errors.watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()
