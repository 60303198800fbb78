"""The buyer's page in a real browser (Debian's Chromium driven by Playwright) against a live server:
the whole purchase, and two buyers racing for one seat. Screenshots go to build/screenshots/
(`SCREENSHOTS_DIR=docs/screenshots` refreshes the README's)."""

import re
from decimal import Decimal

import pytest

from apps.accounts import services as accounts
from apps.concerts import services as catalogue
from apps.queue import services as queue
from apps.reservations import services as reservations
from tests.factories import UserFactory
from tests.web.browser import expect, log_in, seat_button, shot

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_whole_purchase_in_a_browser(new_page, live_server, hall_date, settings):
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
    expect(page.locator("#notice")).to_contain_text("amount")  # a clear message, no JSON dump
    page.get_by_label("Amount to add").fill("300000")
    page.get_by_role("button", name="Add money").click()
    expect(page.locator("#balance")).to_have_text("₩300,000")
    expect(page.locator("#ledger")).to_contain_text("CHARGE")
    shot(page, "02-wallet")

    # The date is full: the buyer waits in line until admission gives them a place.
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 1  # one place, whatever the admission mode
    blocker = queue.issue_access_token(user_id=999_999, concert_date_id=hall_date.pk)
    page.goto(f"{base}/#/concerts")
    page.get_by_role("link", name="The Golden Hour Tour").click()
    expect(page.get_by_text("44 of 44 seats left")).to_be_visible()
    shot(page, "03-concert")
    with page.expect_request(re.compile(r"/seat-layout$")) as layout_read:  # read ahead: next in line
        page.get_by_role("link", name="Get tickets").click()
    expect(page.locator("#position")).to_have_text("#1")
    assert "#/queue/" in layout_read.value.frame.url
    shot(page, "04-waiting-room")
    queue.end_access(user_id=999_999, concert_date_id=hall_date.pk)
    assert queue.admit_next_batch(concert_date_id=hall_date.pk).admitted == 1
    assert blocker.token

    # Admitted: the page moves on to the seat map by itself.
    page.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
    seats = list(hall_date.seats.filter(section="Floor").order_by("seat_num").values_list("pk", flat=True))
    seat_button(page, seats[0]).click()
    seat_button(page, seats[1]).click()
    expect(page.locator("#selection")).to_contain_text("₩100,000")
    shot(page, "05-seat-map")
    page.get_by_role("button", name="Hold seats").click()
    page.wait_for_url(re.compile(r"#/hold/"))
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^[45]:\d\d$"))
    shot(page, "06-hold-countdown")

    page.get_by_role("button", name=re.compile("Pay")).click()
    page.wait_for_url(re.compile(r"#/confirmed/"))
    expect(page.locator("#confirmation")).to_contain_text("CONFIRMED")
    expect(page.locator("#confirmation")).to_contain_text("₩200,000")
    shot(page, "07-confirmation")

    page.get_by_role("link", name="My reservations").first.click()
    expect(page.locator("td .status").first).to_have_text("CONFIRMED")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#notice")).to_contain_text("₩100,000 was refunded")
    expect(page.locator("td .status").first).to_have_text("CANCELLED")
    shot(page, "08-reservations-refund")
    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("#balance")).to_have_text("₩300,000")

    # Phone width: the seat map still fits and works.
    phone = new_page(390, 844)
    phone.goto(f"{base}/#/login")
    user = UserFactory()
    log_in(phone, base, user.email)
    phone.goto(f"{base}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
    phone.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
    phone.locator("button.seat").first.wait_for()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    shot(phone, "09-seat-map-phone")


def test_two_buyers_racing_for_one_seat(new_page, live_server, hall_date, settings):
    settings.SEAT_STATUS_POLL_SECONDS = 3600  # the stale map is refreshed by the conflict, not a poll
    base = live_server.url
    first, second = UserFactory(), UserFactory()
    for user in (first, second):
        accounts.charge(user=user, amount=Decimal("500000"))
    pages = []
    for user in (first, second):
        page = new_page(1000)
        log_in(page, base, user.email)
        page.goto(f"{base}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
        page.wait_for_url(re.compile(r"#/seats/"), timeout=20_000)
        page.locator("button.seat").first.wait_for()
        pages.append(page)
    seat = hall_date.seats.filter(section="VIP").order_by("seat_num").values_list("pk", flat=True).first()
    # Both have the map open with the seat free; the first buyer holds it.
    for page in pages:
        seat_button(page, seat).click()
    pages[0].get_by_role("button", name="Hold seats").click()
    pages[0].wait_for_url(re.compile(r"#/hold/"))
    # The second buyer, on a now stale map, is told and shown the refreshed map.
    pages[1].get_by_role("button", name="Hold seats").click()
    expect(pages[1].locator("#notice")).to_contain_text("Someone else just took one of those seats")
    expect(seat_button(pages[1], seat)).to_be_disabled()
    expect(seat_button(pages[1], seat)).to_have_class(re.compile(r"\bHELD\b.*\btaken\b"))
    shot(pages[1], "10-seat-taken")


def test_the_open_map_follows_other_buyers(new_page, live_server, hall_date, settings):
    settings.SEAT_STATUS_POLL_SECONDS = 1
    buyer, rival = UserFactory(), UserFactory()
    page = new_page()
    log_in(page, live_server.url, buyer.email)
    page.goto(f"{live_server.url}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
    page.wait_for_url(re.compile(r"#/seats/"))
    seat = hall_date.seats.filter(section="VIP").order_by("seat_num").first()
    seat_button(page, seat.pk).click()
    expect(page.locator("#selection")).to_contain_text(f"VIP {seat.row}-{seat.seat_num}")

    # While nothing changes, the page keeps asking with the ETag it holds and is told "not modified".
    with page.expect_response(lambda r: "/seat-status" in r.url and r.status == 304, timeout=10_000) as unchanged:
        pass
    assert unchanged.value.request.headers["if-none-match"]

    # Another buyer holds the chosen seat: the next read shows it, and the choice is dropped with a word.
    reservations.hold_seats(user=rival, concert_date_id=hall_date.pk, seat_ids=[seat.pk])
    expect(seat_button(page, seat.pk)).to_have_class(re.compile(r"\bHELD\b.*\btaken\b"), timeout=10_000)
    expect(page.locator("#notice")).to_contain_text(f"VIP {seat.row}-{seat.seat_num} was just taken by someone else")
    expect(page.locator("#selection")).to_contain_text("Choose up to")
    expect(page.get_by_role("button", name="Hold seats")).to_be_disabled()


def test_a_price_change_reaches_the_open_map(new_page, live_server, hall_date, settings):
    settings.SEAT_STATUS_POLL_SECONDS = 1
    page = new_page()
    log_in(page, live_server.url, UserFactory().email)
    page.goto(f"{live_server.url}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
    page.wait_for_url(re.compile(r"#/seats/"))
    seat = hall_date.seats.filter(section="Floor").order_by("seat_num").first()
    expect(seat_button(page, seat.pk)).to_have_attribute("title", re.compile(r"₩50,000$"))

    # Staff reprice the seat: the layout's version moves, the next status read says so, and the page
    # fetches the layout again past the browser's cached copy (still fresh for minutes by its max-age).
    catalogue.set_seat_price(seat_id=seat.pk, price=Decimal("45000.00"))
    expect(seat_button(page, seat.pk)).to_have_attribute("title", re.compile(r"₩45,000$"), timeout=15_000)
    expect(page.locator("#notice")).to_contain_text("The seat map has changed")


def test_a_buyer_whose_turn_ended_is_back_in_line(new_page, live_server, hall_date, settings):
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE, settings.SEAT_STATUS_POLL_SECONDS = "fixed", 1, 1
    buyer = UserFactory()
    page = new_page()
    log_in(page, live_server.url, buyer.email)
    page.goto(f"{live_server.url}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
    page.wait_for_url(re.compile(r"#/seats/"))

    # The place is taken back (idle, or the token expired) and someone else is admitted in it: the
    # map's next status read is refused, and the page puts the buyer back in line, saying why.
    queue.end_access(user_id=buyer.pk, concert_date_id=hall_date.pk)
    queue.issue_access_token(user_id=999_999, concert_date_id=hall_date.pk)
    page.wait_for_url(re.compile(r"#/queue/"), timeout=10_000)
    expect(page.locator("#notice")).to_have_text("Your turn to choose seats has ended, so you are back in the line.")
    expect(page.locator("#position")).to_have_text("#1")
