"""The gated writes' fast paths (apps/common/fast_path.py, apps/reservations/fast_path.py,
apps/payments/fast_path.py) answer the common hold and payment with the views' own status, bytes and
headers, refusals included, without DRF's dispatch; anything else reaches the view, which answers as
before. A request the fast path took is never handed on (nothing of it is done twice)."""

from decimal import Decimal

import pytest
from rest_framework.settings import api_settings

from apps.payments.api import PaymentListCreateApi
from apps.reservations.api import ReservationListCreateApi
from apps.reservations.fast_path import hold_input
from apps.reservations.models import Reservation
from apps.reservations.services import hold_seats
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import admitted_client, assert_error, fund, redis_unreachable
from tests.queue.helpers import count_dispatches

pytestmark = pytest.mark.django_db

NOT_COMPARED = {"X-Request-ID", "Content-Length"}


@pytest.fixture
def hold_views(monkeypatch) -> list:
    """The holds that reached the view (the fast path handed them on, or was off)."""
    return count_dispatches(monkeypatch, ReservationListCreateApi)


@pytest.fixture
def payment_views(monkeypatch) -> list:
    return count_dispatches(monkeypatch, PaymentListCreateApi)


def hold(client, body, settings, *, fast: bool = True, **extra):
    settings.HOLD_FAST_PATH = fast
    return client.post("/api/reservations", body, format="json", **extra)


def pay(client, body, settings, *, fast: bool = True, **extra):
    settings.PAYMENT_FAST_PATH = fast
    return client.post("/api/payments", body, format="json", **extra)


def assert_same_answer(fast, full, status: int, *, varying: tuple[str, ...] = ()) -> None:
    """The same status, headers and body, but for the body's `varying` fields (present in both)."""
    assert fast.status_code == full.status_code == status, (fast.content, full.content)
    fast_body, full_body = fast.json(), full.json()
    for name in varying:
        assert (name in fast_body) and (name in full_body), name
        fast_body.pop(name), full_body.pop(name)
    assert fast_body == full_body
    fast_headers = {k: v for k, v in fast.headers.items() if k not in NOT_COMPARED}
    full_headers = {k: v for k, v in full.headers.items() if k not in NOT_COMPARED}
    assert fast_headers == full_headers


def seat_parts(body: dict) -> list[tuple]:
    return [(seat["section"], seat["row"], seat["price"]) for seat in body["seats"]]


@pytest.fixture
def date():
    return make_date()


class TestAHoldAnsweredTheSame:
    def test_picked_seats(self, date, settings, hold_views):
        ids = seat_ids(date, 4)
        fast = hold(admitted_client(date, UserFactory()), {"concert_date_id": date.pk, "seat_ids": ids[:2]}, settings)
        assert hold_views == []
        full = hold(
            admitted_client(date, UserFactory()),
            {"concert_date_id": date.pk, "seat_ids": ids[2:]},
            settings,
            fast=False,
        )
        assert len(hold_views) == 1
        assert [seat["id"] for seat in fast.json()["seats"]] == ids[:2]
        assert seat_parts(fast.json()) == seat_parts(full.json())
        assert_same_answer(fast, full, 201, varying=("id", "seats", "expires_at", "created_at"))
        assert Reservation.objects.filter(status="HELD").count() == 2

    @pytest.mark.parametrize(
        "extra", [{}, {"section": "Floor"}, {"together": False}, {"section": "Floor", "together": True}]
    )
    def test_best_available(self, date, settings, hold_views, extra):
        body = {"concert_date_id": date.pk, "quantity": 2, **extra}
        fast = hold(admitted_client(date, UserFactory()), body, settings)
        full = hold(admitted_client(date, UserFactory()), body, settings, fast=False)
        assert len(hold_views) == 1
        # The second buyer gets the next best block, maybe of another section and price.
        assert len(fast.json()["seats"]) == len(full.json()["seats"]) == 2
        assert_same_answer(fast, full, 201, varying=("id", "seats", "total_price", "expires_at", "created_at"))


def test_its_answers_are_counted_under_the_views_route(date, settings, hold_views):
    """The metrics (and the rush's CPU a route) see a fast-path answer as the view's route, refusals too."""
    from apps.common import metrics

    def responses(status: str) -> float:
        return metrics.http_responses.labels("/api/reservations", "POST", status)._value.get()

    before = responses("201"), responses("409")
    ids = seat_ids(date, 2)
    assert (
        hold(admitted_client(date, UserFactory()), {"concert_date_id": date.pk, "seat_ids": ids}, settings).status_code
        == 201
    )
    taken = hold(admitted_client(date, UserFactory()), {"concert_date_id": date.pk, "seat_ids": ids}, settings)
    assert taken.status_code == 409
    assert (responses("201"), responses("409")) == (before[0] + 1, before[1] + 1)
    assert hold_views == []


class TestARefusedHoldAnsweredTheSame:
    """The fast path answers the gate's and the service's refusals itself, as the view does."""

    def both(self, client, body, settings):
        return hold(client, body, settings), hold(client, body, settings, fast=False)

    def test_seats_taken(self, date, settings, hold_views):
        ids = seat_ids(date, 2)
        hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids)
        fast, full = self.both(
            admitted_client(date, UserFactory()), {"concert_date_id": date.pk, "seat_ids": ids}, settings
        )
        assert_error(fast, 409, "SEAT_UNAVAILABLE")
        assert_same_answer(fast, full, 409)
        assert len(hold_views) == 1

    def test_hold_limit(self, date, settings, hold_views):
        settings.MAX_LIVE_HOLDS_PER_USER_PER_DATE = 0
        body = {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}
        fast, full = self.both(admitted_client(date, UserFactory()), body, settings)
        assert_error(fast, 409, "HOLD_LIMIT_REACHED")
        assert_same_answer(fast, full, 409)
        assert len(hold_views) == 1
        assert not Reservation.objects.exists()

    def test_a_section_the_date_does_not_have(self, date, settings, hold_views):
        body = {"concert_date_id": date.pk, "quantity": 1, "section": "Nowhere"}
        fast, full = self.both(admitted_client(date, UserFactory()), body, settings)
        assert_error(fast, 400, "VALIDATION_ERROR")
        assert_same_answer(fast, full, 400)
        assert len(hold_views) == 1

    def test_the_queue_token_of_another_date(self, date, settings, hold_views):
        other = make_date()
        body = {"concert_date_id": other.pk, "seat_ids": seat_ids(other, 1)}
        fast, full = self.both(admitted_client(date, UserFactory()), body, settings)
        assert_error(fast, 403, "QUEUE_TOKEN_REQUIRED")
        assert_same_answer(fast, full, 403)
        assert len(hold_views) == 1

    def test_a_revoked_access_token(self, date, settings, hold_views):
        client = admitted_client(date, UserFactory())
        assert client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json").status_code in (
            200,
            204,
        )
        fast, full = self.both(client, {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, settings)
        assert_error(fast, 401, "NOT_AUTHENTICATED")
        assert fast["WWW-Authenticate"]
        assert_same_answer(fast, full, 401)
        assert len(hold_views) == 1
        assert not Reservation.objects.exists()

    def test_the_rate_limit_counts_each_hold_once(self, date, settings, hold_views):
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK, DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, hold="2/min")
        )
        client = admitted_client(date, UserFactory())
        ids = seat_ids(date, 3)
        hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids[1:2])
        assert hold(client, {"concert_date_id": date.pk, "seat_ids": ids[:1]}, settings).status_code == 201
        assert_error(
            hold(client, {"concert_date_id": date.pk, "seat_ids": ids[1:2]}, settings), 409, "SEAT_UNAVAILABLE"
        )
        fast, full = self.both(client, {"concert_date_id": date.pk, "seat_ids": ids[2:]}, settings)
        assert_error(fast, 429, "THROTTLED")
        assert_same_answer(fast, full, 429)
        assert len(hold_views) == 1  # only the one sent with the fast path off

    def test_redis_down(self, date, settings, hold_views):
        client = admitted_client(date, UserFactory())
        body = {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}
        answers = []
        for fast_path in (True, False):
            settings.HOLD_FAST_PATH = fast_path  # before the outage's own settings, which it restores after
            with redis_unreachable():
                answers.append(client.post("/api/reservations", body, format="json"))
        fast, full = answers
        assert_error(fast, 503, "SERVICE_UNAVAILABLE")
        assert_same_answer(fast, full, 503)
        assert len(hold_views) == 1
        assert not Reservation.objects.exists()


class TestTheViewAnswersTheRest:
    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (lambda date, ids: {"concert_date_id": date, "seat_ids": [str(ids[0])]}, 400),  # JSON takes own types
            (lambda date, ids: {"concert_date_id": date, "quantity": 1, "section": " Floor"}, 201),  # trimmed
            (lambda date, ids: {"concert_date_id": date, "quantity": 1, "extra": 1}, 201),  # ignored by the view
            (lambda date, ids: {"concert_date_id": date, "quantity": 1, "together": "yes"}, 400),
            (lambda date, ids: {"concert_date_id": date, "seat_ids": ids, "together": False}, 400),
            (lambda date, ids: {"concert_date_id": date}, 400),
            (lambda date, ids: [], 400),
        ],
    )
    def test_a_body_it_does_not_take(self, date, settings, hold_views, body, status):
        response = hold(admitted_client(date, UserFactory()), body(date.pk, seat_ids(date, 1)), settings)
        assert response.status_code == status, response.content
        assert len(hold_views) == 1

    @pytest.mark.parametrize(
        ("credentials", "status", "code"),
        [
            (lambda client: {"HTTP_AUTHORIZATION": f"Bearer {client.tokens['access']}"}, 403, "QUEUE_TOKEN_REQUIRED"),
            (
                lambda client: {"HTTP_AUTHORIZATION": "Bearer nonsense", "HTTP_X_QUEUE_TOKEN": "x"},
                401,
                "NOT_AUTHENTICATED",
            ),
        ],
        ids=["no queue token", "a bad access token"],
    )
    def test_no_or_a_bad_token(self, date, settings, hold_views, credentials, status, code):
        client = admitted_client(date, UserFactory())
        client.credentials(**credentials(client))
        assert_error(hold(client, {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, settings), status, code)
        assert len(hold_views) == 1

    def test_an_accept_json_cannot_satisfy(self, date, settings, hold_views):
        body = {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}
        response = hold(admitted_client(date, UserFactory()), body, settings, HTTP_ACCEPT="text/html")
        assert_error(response, 406, "NOT_ACCEPTABLE")
        assert len(hold_views) == 1
        assert not Reservation.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"concert_date_id": 1, "seat_ids": [1, 2]},
        {"concert_date_id": 1, "seat_ids": [1, 1]},
        {"concert_date_id": 1, "seat_ids": []},
        {"concert_date_id": 1, "seat_ids": [1, 2, 3, 4, 5]},
        {"concert_date_id": 1, "seat_ids": [True]},
        {"concert_date_id": True, "seat_ids": [1]},
        {"concert_date_id": 0, "seat_ids": [1]},
        {"concert_date_id": 2**63, "seat_ids": [1]},
        {"concert_date_id": 2**63 - 1, "seat_ids": [2**63 - 1]},
        {"concert_date_id": 1, "seat_ids": [1.0]},
        {"concert_date_id": 1, "seat_ids": [1], "quantity": 1},
        {"concert_date_id": 1, "seat_ids": [1], "section": "A"},
        {"concert_date_id": 1, "quantity": 4},
        {"concert_date_id": 1, "quantity": 5},
        {"concert_date_id": 1, "quantity": 0},
        {"concert_date_id": 1, "quantity": 2, "together": False},
        {"concert_date_id": 1, "quantity": 2, "together": 0},
        {"concert_date_id": 1, "quantity": 2, "section": "Balcony A"},
        {"concert_date_id": 1, "quantity": 2, "section": ""},
        {"concert_date_id": 1, "quantity": 2, "section": " A"},
        {"concert_date_id": 1, "quantity": 2, "section": "A\x00"},
        {"concert_date_id": 1, "quantity": 2, "section": "A\ud800"},
        {"concert_date_id": 1, "quantity": 2, "section": "x" * 100},
        {"concert_date_id": 1, "quantity": 2, "section": "x" * 101},
        {"concert_date_id": 1, "quantity": 2, "section": None},
        {"concert_date_id": 1, "quantity": 2, "section": "Ünïcode ✓"},
        {"quantity": 2},
    ],
)
def test_the_fast_path_takes_a_body_only_as_the_view_does(body):
    """What `hold_input` takes, the view's serializer takes with the same values (what it does not
    take goes to the view, so a body it refuses that the view takes costs only time)."""
    taken = hold_input(body)
    serializer = ReservationListCreateApi.InputSerializer(data=body)
    if taken is not None:
        assert serializer.is_valid(), serializer.errors
        assert taken == {**serializer.validated_data}


class TestAPayment:
    def held(self, date, seat: int, *, balance: str = "1000000.00"):
        """A buyer's client holding the date's `seat`-th seat, and the reservation's id."""
        user = UserFactory()
        if Decimal(balance):
            fund(user, balance)
        client = admitted_client(date, user)
        body = {"concert_date_id": date.pk, "seat_ids": [seat_ids(date)[seat]]}
        response = client.post("/api/reservations", body, format="json")
        assert response.status_code == 201, response.content
        return client, response.json()["id"]

    def test_answered_the_same(self, date, settings, payment_views):
        client, reservation_id = self.held(date, 0)
        fast = pay(client, {"reservation_id": reservation_id}, settings)
        assert payment_views == []
        other, other_id = self.held(date, 1)
        full = pay(other, {"reservation_id": other_id}, settings, fast=False)
        assert len(payment_views) == 1
        assert_same_answer(fast, full, 201, varying=("id", "reservation_id", "paid_at"))
        assert Reservation.objects.get(pk=reservation_id).status == "CONFIRMED"

    def test_a_keyed_payment_replayed(self, date, settings, payment_views):
        client, reservation_id = self.held(date, 0)
        first = pay(client, {"reservation_id": reservation_id}, settings, HTTP_IDEMPOTENCY_KEY="k-1")
        again = pay(client, {"reservation_id": reservation_id}, settings, HTTP_IDEMPOTENCY_KEY="k-1")
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json() == again.json()
        assert payment_views == []

    def test_not_enough_in_the_wallet(self, date, settings, payment_views):
        client, reservation_id = self.held(date, 0, balance="0")
        fast = pay(client, {"reservation_id": reservation_id}, settings)
        full = pay(client, {"reservation_id": reservation_id}, settings, fast=False)
        assert_error(fast, 409, "INSUFFICIENT_BALANCE")
        assert_same_answer(fast, full, 409)
        assert len(payment_views) == 1
        assert Reservation.objects.get(pk=reservation_id).status == "HELD"

    def test_a_body_it_does_not_take(self, date, settings, payment_views):
        client, reservation_id = self.held(date, 0)
        assert_error(pay(client, {"reservation_id": str(reservation_id)}, settings), 400, "VALIDATION_ERROR")
        assert len(payment_views) == 1
