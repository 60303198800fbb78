"""The waiting room before the sale in a real browser: the pre-queue says when places are drawn and
shows the drawn place at the opening, without the buyer doing anything; earlier still, the closed
waiting room says when it opens. In line, the line's push (when served) says at once that the date sold
out; without it the page polls as before."""

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from apps.concerts import seat_counts
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


# The line's push (GET /api/queue/events) is served by the push server behind nginx, not by the live
# server: these tests answer it themselves.
EVENTS = re.compile(r"/api/queue/events\?concert_date_id=\d+(&number=\d+)?$")
STATUS = re.compile(r"/api/queue/status\?")


def seats_event(date, *, sold_out: bool) -> str:
    seats = {
        "concert_date_id": date.pk,
        "sold_out": sold_out,
        "seats_available": 0 if sold_out else 44,
        "seats_held": 0,
    }
    return f"event: seats\ndata: {json.dumps(seats)}\n\n"


def waiting_buyer(new_page, live_server, date, on_events, user=None):
    """A buyer (`user`, else a new one) waiting in line at #1 (nobody is admitted), the push answered by
    `on_events`; with the status polls the page sends, in order."""
    page = new_page()
    page.route(EVENTS, on_events)
    polls = []
    page.on("request", lambda request: polls.append(request.url) if STATUS.search(request.url) else None)
    log_in(page, live_server.url, (user or UserFactory()).email)
    page.goto(f"{live_server.url}/#/queue/{date.concert_id}/{date.pk}")
    expect(page.locator("#position")).to_have_text("#1")
    return page, polls


def test_the_line_hears_at_once_that_the_date_sold_out(new_page, live_server, settings, hall_date):
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE = "fixed", 0
    streams = []  # held open until the test answers them
    page, polls = waiting_buyer(new_page, live_server, hall_date, lambda route: streams.append(route))
    with page.expect_response(STATUS):  # the page polls (2-4 s apart at #1) ...
        pass
    assert len(streams) == 1, "one stream for the waiting period"
    asked = len(polls)

    # ... and just after a poll the stream says the date sold out: the page says so without asking.
    streams[0].fulfill(
        status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
        body=seats_event(hall_date, sold_out=False) + ": keep-alive\n\n" + seats_event(hall_date, sold_out=True),
    )  # fmt: skip
    expect(page.locator("#sold-out")).to_contain_text("Sold out")
    expect(page.locator("#sold-out-text")).to_contain_text("Every seat of this date has been sold.")
    expect(page.locator("#in-line")).to_be_hidden()
    assert len(polls) == asked
    page.wait_for_timeout(5_000)  # longer than the polls' pace: it stopped asking
    assert len(polls) == asked

    # The date is not sold out on the server: "Check again" finds the place kept, and the new waiting
    # period listens again.
    with page.expect_request(EVENTS):
        page.get_by_role("button", name="Check again").click()
    expect(page.locator("#position")).to_have_text("#1")
    expect(page.locator("#sold-out")).to_be_hidden()
    assert len(streams) == 2


def test_a_turn_on_the_stream_makes_the_page_ask_at_once(new_page, live_server, settings, hall_date):
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE = "fixed", 0
    streams, user = [], UserFactory()
    page, polls = waiting_buyer(new_page, live_server, hall_date, lambda route: streams.append(route), user)
    number = queue.queue_status(user_id=user.pk, concert_id=hall_date.concert_id, concert_date_id=hall_date.pk).number
    # Every seat held: the page is told to ask again only in 15-27 s.
    free = seat_counts.read_counts(concert_date_id=hall_date.pk).available
    seat_counts.seat_count_change(concert_date_id=hall_date.pk, available=-free, held=free).run()
    with page.expect_response(STATUS):
        pass
    expect(page.locator("#held-seats")).to_be_visible()
    assert len(streams) == 1 and streams[0].request.url.endswith(f"&number={number}"), "asks for the turn"
    asked = len(polls)
    turn = json.dumps({"concert_date_id": hall_date.pk, "number": number})
    with page.expect_request(STATUS, timeout=10_000):  # long before the next poll was due
        streams[0].fulfill(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
            body=seats_event(hall_date, sold_out=False) + f"event: turn\ndata: {turn}\n\n",
        )  # fmt: skip
    assert len(polls) == asked + 1


def test_without_the_push_the_line_polls_as_before(new_page, live_server, settings, hall_date):
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE = "fixed", 0
    streams = []

    def not_served(route):  # as under `make run`: no push server, Django answers 404
        streams.append(route.request.url)
        not_found = {"error": {"code": "NOT_FOUND", "message": "Not found.", "details": {}}}
        route.fulfill(status=404, content_type="application/json", body=json.dumps(not_found))

    page, polls = waiting_buyer(new_page, live_server, hall_date, not_served)
    asked = len(polls)
    for _ in range(2):
        with page.expect_response(STATUS):
            pass
    assert len(polls) == asked + 2
    expect(page.locator("#position")).to_have_text("#1")
    expect(page.locator("#sold-out")).to_be_hidden()
    expect(page.locator("#notice")).to_be_hidden()
    assert len(streams) == 1, "asked once, not again"


def test_an_entry_refused_as_busy_is_sent_again_when_the_answer_says(new_page, live_server, settings, hall_date):
    # The service sheds the first entry (503 with Retry-After: an overloaded web tier); the page says so
    # and joins by itself a second later, and the notice goes.
    settings.QUEUE_ADMISSION, settings.QUEUE_MAX_ACTIVE = "fixed", 0  # nobody admitted: the place stays shown
    entries = []

    def busy_once(route):
        entries.append(route.request.method)
        if len(entries) > 1:
            return route.continue_()
        return route.fulfill(
            status=503, content_type="application/json", headers={"Retry-After": "1"},
            body=json.dumps({"error": {"code": "SERVICE_UNAVAILABLE", "message": "Busy.", "details": {}}}),
        )  # fmt: skip

    page = new_page()
    page.route(re.compile(r"/api/queue$"), busy_once)
    log_in(page, live_server.url, UserFactory().email)
    page.goto(f"{live_server.url}/#/queue/{hall_date.concert_id}/{hall_date.pk}")
    expect(page.locator("#notice")).to_contain_text("very busy")
    expect(page.locator("#position")).to_have_text("#1")
    expect(page.locator("#notice")).to_be_hidden()
    assert entries == ["POST", "POST"]
