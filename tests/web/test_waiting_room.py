"""The waiting room before the sale in a real browser: the pre-queue says when places are drawn and
shows the drawn place at the opening, without the buyer doing anything; earlier still, the closed
waiting room says when it opens."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.concerts import services as catalogue
from apps.queue import services as queue
from tests.factories import UserFactory
from tests.web.browser import expect, log_in, shot

pytestmark = pytest.mark.django_db(transaction=True)


def date_opening_in(delay: dt.timedelta):
    venue = catalogue.create_venue(
        name="Olympic Hall", address="Seoul",
        layout=[{"name": "Floor", "rows": 2, "seats_per_row": 10, "price": "50000.00"}],
    )  # fmt: skip
    concert = catalogue.create_concert(venue=venue, name="The Opening Night", artist="IU")
    return catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=20), booking_opens_at=timezone.now() + delay
    )


def test_the_prequeue_then_the_drawn_place(new_page, live_server, settings):
    # Nobody is admitted, so the drawn place stays on screen.
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE = "fixed", 0
    # Late enough for the buyer to log in and join before it; the page then asks again just after it.
    date = date_opening_in(dt.timedelta(seconds=12))
    for user_id in (9_000_001, 9_000_002):  # two more buyers in the pre-queue: the place is drawn among three
        assert queue.enter_queue(user_id=user_id, concert_id=date.concert_id, concert_date_id=date.pk).position is None
    page = new_page()
    log_in(page, live_server.url, UserFactory().email)

    page.goto(f"{live_server.url}/#/concert/{date.concert_id}")
    expect(page.get_by_text("Sale opens")).to_be_visible()
    page.get_by_role("link", name="Join the waiting room").click()
    expect(page.locator("#place-title")).to_contain_text("The sale opens at")
    expect(page.locator("#place-title")).to_contain_text("Your place in line will be drawn then.")
    expect(page.locator("#opens-in")).to_have_text(re.compile(r"^Opens in 0:\d\d$"))
    expect(page.locator("#position")).to_be_hidden()
    shot(page, "12-prequeue")

    # At the opening the draw happens (here in the page's first poll after it; beat does it too) and
    # the page shows the drawn place by itself.
    expect(page.locator("#position")).to_have_text(re.compile(r"^#[123]$"), timeout=30_000)
    expect(page.locator("#place-title")).to_have_text("Your place in line")
    expect(page.locator("#opens-in")).to_be_hidden()


def test_a_closed_waiting_room_says_when_it_opens(new_page, live_server, settings):
    settings.QUEUE_PREQUEUE_SECONDS = 300
    date = date_opening_in(dt.timedelta(minutes=20))
    page = new_page()
    log_in(page, live_server.url, UserFactory().email)
    page.goto(f"{live_server.url}/#/queue/{date.concert_id}/{date.pk}")
    expect(page.locator("#queue-closed")).to_contain_text("The waiting room opens at")
    expect(page.locator("#queue-closed")).to_contain_text("Keep this page open: you join automatically.")
    expect(page.locator("#notice")).to_be_hidden()


def test_an_unverified_buyer_is_led_to_confirm_the_e_mail_then_gets_in(new_page, live_server, settings):
    from apps.accounts.tokens import make_email_verification_token

    settings.REQUIRE_VERIFIED_EMAIL = True
    date = date_opening_in(-dt.timedelta(minutes=1))
    buyer = UserFactory(email_verified=False)
    page = new_page()
    log_in(page, live_server.url, buyer.email)
    page.goto(f"{live_server.url}/#/queue/{date.concert_id}/{date.pk}")
    page.wait_for_url(re.compile(r"#/verify\?next="))
    expect(page.locator("#notice")).to_contain_text("confirm your e-mail address")
    page.get_by_label("Code from the e-mail").fill(make_email_verification_token(user=buyer))
    page.get_by_role("button", name="Confirm my e-mail").click()
    # Verified, the token refreshed to say so, and back in the waiting room: admitted at once.
    page.wait_for_url(re.compile(rf"#/seats/{date.concert_id}/{date.pk}"))
    buyer.refresh_from_db()
    assert buyer.email_verified


def test_a_sold_out_date_says_so_and_checks_again_on_request(new_page, live_server, settings):
    from apps.payments import services as payments
    from apps.reservations import services as reservations
    from tests.helpers import funded_user

    settings.QUEUE_HEARTBEAT_TIMEOUT_SECONDS = 6  # polls at most 2 s apart, also while seats are held
    venue = catalogue.create_venue(
        name="Club", address="Seoul", layout=[{"name": "Floor", "rows": 1, "seats_per_row": 4, "price": "50000.00"}]
    )
    concert = catalogue.create_concert(venue=venue, name="The Last Four", artist="IU")
    date = catalogue.create_concert_date(
        concert=concert, starts_at=timezone.now() + dt.timedelta(days=20), booking_opens_at=timezone.now()
    )
    seats = list(date.seats.order_by("pk").values_list("pk", flat=True))
    seller, holder = funded_user(), funded_user()
    sold = reservations.hold_seats(user=seller, concert_date_id=date.pk, seat_ids=seats[:2])
    payments.pay_for_reservation(user=seller, reservation_id=sold.pk)
    kept = reservations.hold_seats(user=holder, concert_date_id=date.pk, seat_ids=seats[2:])
    page = new_page()
    log_in(page, live_server.url, UserFactory().email)

    # Every seat left is held: the buyer waits in line (not admitted into nothing), and is told why.
    page.goto(f"{live_server.url}/#/queue/{date.concert_id}/{date.pk}")
    expect(page.locator("#position")).to_have_text("#1")
    expect(page.locator("#held-seats")).to_contain_text("2 seats are held by other buyers and may come back")

    # The holds are paid too: sold out, and the page stops asking.
    payments.pay_for_reservation(user=holder, reservation_id=kept.pk)
    expect(page.locator("#sold-out")).to_contain_text("Sold out", timeout=15_000)
    expect(page.locator("#in-line")).to_be_hidden()
    shot(page, "18-sold-out")
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#sold-out-text")).to_contain_text("Still sold out at")

    # A refund puts seats back: "Check again" finds the place kept.
    reservations.cancel_reservation(user=seller, reservation_id=sold.pk)
    page.get_by_role("button", name="Check again").click()
    expect(page.locator("#position")).to_have_text("#1")
    expect(page.locator("#sold-out")).to_be_hidden()
    expect(page.locator("#held-seats")).to_be_hidden()
