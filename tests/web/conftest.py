import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from apps.concerts import services as catalogue
from tests.web.browser import ARGS, CHROMIUM, SHOTS, BrowserErrors, playwright

SECTIONS, ROWS, SEATS_PER_ROW = 10, 40, 50  # the stadium: 20,000 seats


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


@pytest.fixture
def hall_date(db):
    """A date at a 44-seat hall (8 VIP, 36 Floor) whose booking is open, for the buyer's page."""
    venue = catalogue.create_venue(
        name="Olympic Hall", address="Seoul",
        layout=[{"name": "VIP", "rows": 1, "seats_per_row": 8, "price": "150000.00"},
                {"name": "Floor", "rows": 3, "seats_per_row": 12, "price": "50000.00"}],
    )  # fmt: skip
    concert = catalogue.create_concert(venue=venue, name="The Golden Hour Tour", artist="IU", description="Live.")
    return catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=20), booking_opens_at=timezone.now()
    )


@pytest.fixture
def stadium_date(db):
    venue = catalogue.create_venue(
        name="Seoul Olympic Stadium", address="Seoul",
        layout=[{"name": f"S{i + 1}", "rows": ROWS, "seats_per_row": SEATS_PER_ROW, "price": f"{150 - 10 * i}000.00"}
                for i in range(SECTIONS)],
    )  # fmt: skip
    concert = catalogue.create_concert(venue=venue, name="Stadium Night", artist="IU")
    return catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=30), booking_opens_at=timezone.now()
    )
