"""The buyer's page in a real browser (Debian's Chromium driven by Playwright) against a live server:
the whole purchase, and two buyers racing for one seat. Screenshots go to docs/screenshots/."""

import datetime as dt
import os
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from apps.accounts import services as accounts
from apps.concerts import services as catalogue
from apps.queue import services as queue
from tests.factories import DEFAULT_PASSWORD, UserFactory

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still sync.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
import playwright.sync_api as playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
        "--disable-background-networking", "--disable-component-update"]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
# Each run writes its screenshots here (ignored by git); `SCREENSHOTS_DIR=docs/screenshots make test`
# refreshes the ones the README shows.
SHOTS = ROOT / os.environ.get("SCREENSHOTS_DIR", "build/screenshots")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM} (make test installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def concert_date(db):
    venue = catalogue.create_venue(
        name="Olympic Hall", address="Seoul",
        layout=[{"name": "VIP", "rows": 1, "seats_per_row": 8, "price": "150000.00"},
                {"name": "Floor", "rows": 3, "seats_per_row": 12, "price": "50000.00"}],
    )  # fmt: skip
    concert = catalogue.create_concert(venue=venue, name="The Golden Hour Tour", artist="IU", description="Live.")
    return catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=20), booking_opens_at=timezone.now()
    )


# What the service's Content-Security-Policy allows, at most: the page must work with no inline script or
# style and no eval. Every page here is served with it (on top of whatever the server sends), and any
# violation fails the test.
STRICT_CSP = "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"


class BrowserErrors(list):
    def watch(self, page) -> None:
        page.on("pageerror", lambda exc: self.append(str(exc)))
        page.on("console", lambda m: self.append(m.text) if "Content Security Policy" in m.text else None)


def _with_strict_csp(route) -> None:
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})


@pytest.fixture
def errors():
    found = BrowserErrors()
    yield found
    assert not found, found


@pytest.fixture
def new_page(browser, errors):
    """A page in its own context (its own sessionStorage: its own buyer), under the strict policy."""

    def open_page(width: int = 1100, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.route(lambda url: urlsplit(url).path == "/", _with_strict_csp)
        page = context.new_page()
        errors.watch(page)
        return page

    return open_page


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


def test_the_whole_purchase_in_a_browser(new_page, live_server, concert_date, settings):
    base = live_server.url
    page = new_page()

    # Sign up, charge the wallet, see the ledger.
    page.goto(f"{base}/#/signup")
    shot(page, "01-signup")
    page.get_by_label("Name").fill("Ji-eun")
    page.get_by_label("E-mail").fill("jieun@example.com")
    page.get_by_label("Password").fill("s3cure-enough-pw")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"#/wallet"))
    page.get_by_label("Amount to add").fill("0")
    page.get_by_role("button", name="Add money").click()
    playwright.expect(page.locator("#notice")).to_contain_text("amount")  # a clear message, no JSON dump
    page.get_by_label("Amount to add").fill("300000")
    page.get_by_role("button", name="Add money").click()
    playwright.expect(page.locator("#balance")).to_have_text("₩300,000")
    playwright.expect(page.locator("#ledger")).to_contain_text("CHARGE")
    shot(page, "02-wallet")

    # The date is full: the buyer waits in line until admission gives them a place.
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 1  # one place, whatever the admission mode
    blocker = queue.issue_access_token(user_id=999_999, concert_date_id=concert_date.pk)
    page.goto(f"{base}/#/concerts")
    page.get_by_role("link", name="The Golden Hour Tour").click()
    playwright.expect(page.get_by_text("44 of 44 seats left")).to_be_visible()
    shot(page, "03-concert")
    page.get_by_role("link", name="Get tickets").click()
    playwright.expect(page.locator("#position")).to_have_text("#1")
    shot(page, "04-waiting-room")
    queue.end_access(user_id=999_999, concert_date_id=concert_date.pk)
    assert queue.admit_next_batch(concert_date_id=concert_date.pk).admitted == 1
    assert blocker.token

    # Admitted: the page moves on to the seat map by itself.
    page.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
    seats = list(concert_date.seats.filter(section="Floor").order_by("seat_num").values_list("pk", flat=True))
    seat_button(page, seats[0]).click()
    seat_button(page, seats[1]).click()
    playwright.expect(page.locator("#selection")).to_contain_text("₩100,000")
    shot(page, "05-seat-map")
    page.get_by_role("button", name="Hold seats").click()
    page.wait_for_url(re.compile(r"#/hold/"))
    playwright.expect(page.locator("#countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
    shot(page, "06-hold-countdown")

    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"#/confirmed/"))
    playwright.expect(page.locator("#confirmation")).to_contain_text("CONFIRMED")
    playwright.expect(page.locator("#confirmation")).to_contain_text("₩200,000")
    shot(page, "07-confirmation")

    page.get_by_role("link", name="My reservations").first.click()
    playwright.expect(page.locator("td .status").first).to_have_text("CONFIRMED")
    page.get_by_role("button", name="Cancel").click()
    playwright.expect(page.locator("#notice")).to_contain_text("₩100,000 was refunded")
    playwright.expect(page.locator("td .status").first).to_have_text("CANCELLED")
    shot(page, "08-reservations-refund")
    page.get_by_role("link", name="Wallet").click()
    playwright.expect(page.locator("#balance")).to_have_text("₩300,000")

    # Phone width: the seat map still fits and works.
    phone = new_page(390, 844)
    phone.goto(f"{base}/#/login")
    user = UserFactory()
    log_in(phone, base, user.email)
    phone.goto(f"{base}/#/queue/{concert_date.concert_id}/{concert_date.pk}")
    phone.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
    phone.locator("button.seat").first.wait_for()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    shot(phone, "09-seat-map-phone")


def test_two_buyers_racing_for_one_seat(new_page, live_server, concert_date):
    base = live_server.url
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        accounts.charge(user=user, amount=Decimal("500000"))
    pages = []
    for user in (first, second):
        page = new_page(1000)
        log_in(page, base, user.email)
        page.goto(f"{base}/#/queue/{concert_date.concert_id}/{concert_date.pk}")
        page.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
        page.locator("button.seat").first.wait_for()
        pages.append(page)
    seat = concert_date.seats.filter(section="VIP").order_by("seat_num").values_list("pk", flat=True).first()
    # Both have the map open with the seat free; the first buyer holds it.
    for page in pages:
        seat_button(page, seat).click()
    pages[0].get_by_role("button", name="Hold seats").click()
    pages[0].wait_for_url(re.compile(r"#/hold/"))
    # The second buyer, on a now stale map, is told and shown the refreshed map.
    pages[1].get_by_role("button", name="Hold seats").click()
    playwright.expect(pages[1].locator("#notice")).to_contain_text("Someone else just took one of those seats")
    playwright.expect(seat_button(pages[1], seat)).to_be_disabled()
    playwright.expect(seat_button(pages[1], seat)).to_have_class(re.compile(r"\bHELD\b.*\btaken\b"))
    shot(pages[1], "10-seat-taken")
