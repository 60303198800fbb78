import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.payments import services as payments
from apps.payments.models import Payment
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory, seat_ids
from tests.helpers import assert_error, fund, hold_via_api, login_client

pytestmark = pytest.mark.django_db


class TestCancel:
    def test_another_users_reservation_is_not_found(self, buyer, concert_date):
        theirs = reservations.hold_seats(
            user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        assert_error(buyer.post(f"/api/reservations/{theirs.pk}/cancel"), 404, "NOT_FOUND")

    def test_cancel_a_paid_booking_refunds_it(self, buyer, user, concert_date):
        fund(user, "50000.00")
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 1)).json()["id"]
        assert buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json").status_code == 201
        response = buyer.post(f"/api/reservations/{reservation_id}/cancel")
        assert (response.status_code, response.json()["status"]) == (200, "CANCELLED")
        assert buyer.get("/api/users/me/balance").json()["balance"] == "50000.00"
        assert buyer.get("/api/payments").json()["results"][0]["status"] == "REFUNDED"

    def test_cancel_a_hold(self, buyer, concert_date):
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 1)).json()["id"]
        response = buyer.post(f"/api/reservations/{reservation_id}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "CANCELLED"
        assert_error(buyer.post(f"/api/reservations/{reservation_id}/cancel"), 409, "INVALID_STATE")


class TestPay:
    def test_pay_answers_the_contract_shape_and_ends_queue_access(
        self, buyer, user, concert_date, django_capture_on_commit_callbacks
    ):
        fund(user, "300000.00")
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 2)).json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            response = buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) >= {"id", "reservation_id", "amount", "status", "paid_at", "balance"}
        assert (body["reservation_id"], body["amount"], body["status"], body["balance"]) == (
            reservation_id, "100000.00", "PAID", "200000.00",
        )  # fmt: skip
        assert buyer.get(f"/api/reservations/{reservation_id}").json()["status"] == "CONFIRMED"
        # The payment used up the queue access for this date.
        assert_error(hold_via_api(buyer, concert_date, seat_ids(concert_date)[5:6]), 403, "QUEUE_TOKEN_REQUIRED")

    def test_idempotent_retry_replays_even_after_access_ended(
        self, buyer, user, concert_date, django_capture_on_commit_callbacks
    ):
        fund(user, "300000.00")
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 1)).json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            first = buyer.post(
                "/api/payments", {"reservation_id": reservation_id}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
            )
        again = buyer.post(
            "/api/payments", {"reservation_id": reservation_id}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
        )
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json() == again.json()
        assert Payment.objects.count() == 1
        other = buyer.post(
            "/api/payments", {"reservation_id": reservation_id + 1}, format="json", HTTP_IDEMPOTENCY_KEY="p1"
        )
        assert_error(other, 409, "IDEMPOTENCY_CONFLICT")

    def test_pay_errors(self, buyer, user, concert_date):
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 1)).json()["id"]
        assert_error(
            buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json"), 409, "INSUFFICIENT_BALANCE"
        )
        fund(user)
        Reservation.objects.filter(pk=reservation_id).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert_error(
            buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json"), 409, "HOLD_EXPIRED"
        )
        assert_error(buyer.post("/api/payments", {"reservation_id": 10**15}, format="json"), 404, "NOT_FOUND")
        assert_error(buyer.post("/api/payments", {"reservation_id": "abc"}, format="json"), 400, "VALIDATION_ERROR")
        assert not Payment.objects.exists()

    def test_paying_twice_is_invalid_state(self, buyer, user, concert_date):
        fund(user)
        reservation_id = hold_via_api(buyer, concert_date, seat_ids(concert_date, 1)).json()["id"]
        assert buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json").status_code == 201
        # Access is ended only after commit (not run here), so the token still passes: the state check answers.
        assert_error(
            buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json"), 409, "INVALID_STATE"
        )

    def test_another_users_reservation_is_not_found(self, buyer, concert_date):
        theirs = reservations.hold_seats(
            user=UserFactory(), concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1)
        )
        assert_error(buyer.post("/api/payments", {"reservation_id": theirs.pk}, format="json"), 404, "NOT_FOUND")

    def test_payment_list_is_mine_newest_first_with_bounded_queries(
        self, buyer, user, concert_date, django_assert_max_num_queries
    ):
        fund(user)
        first, second = (
            hold_via_api(buyer, concert_date, seat_ids(concert_date)[i : i + 1]).json()["id"] for i in range(2)
        )
        for reservation_id in (first, second):
            buyer.post("/api/payments", {"reservation_id": reservation_id}, format="json")
        # Another buyer's payment must not show.
        other = UserFactory()
        fund(other)
        theirs = reservations.hold_seats(
            user=other, concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date)[5:6]
        )
        payments.pay_for_reservation(user=other, reservation_id=theirs.pk)
        with django_assert_max_num_queries(3):  # the user, the page count, the page
            body = buyer.get("/api/payments").json()
        assert body["count"] == 2
        assert [p["reservation_id"] for p in body["results"]] == [second, first]
        assert body["results"][0]["amount"] == str(Decimal("50000.00"))
        assert login_client(UserFactory()).get("/api/payments").json()["count"] == 0


class TestSeatsPerBuyerPerDate:
    def test_rounds_of_enter_hold_pay_stop_at_the_cap(
        self, user, concert_date, settings, django_capture_on_commit_callbacks
    ):
        """Enter → hold 4 → pay, four times over: the third hold would pass MAX_SEATS_PER_BUYER_PER_DATE
        and is refused, so the buyer never owns more than the cap of one date."""
        settings.MAX_SEATS_PER_BUYER_PER_DATE = 8
        fund(user, "1000000.00")
        client = login_client(user)
        ids = seat_ids(concert_date)
        answers = []
        for round_ in range(4):
            entry = client.post(
                "/api/queue", {"concert_id": concert_date.concert_id, "concert_date_id": concert_date.pk}, format="json"
            )
            assert entry.status_code in (200, 201) and entry.json()["status"] == "READY", entry.content
            client.credentials(
                HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=entry.json()["token"]
            )
            hold = hold_via_api(client, concert_date, ids[4 * round_ : 4 * round_ + 4])
            answers.append(hold.status_code)
            if hold.status_code != 201:
                assert_error(hold, 409, "HOLD_LIMIT_REACHED")
                continue
            with django_capture_on_commit_callbacks(execute=True):
                paid = client.post("/api/payments", {"reservation_id": hold.json()["id"]}, format="json")
            assert paid.status_code == 201, paid.content
        assert answers == [201, 201, 409, 409]
        owned = Reservation.objects.filter(user=user, concert_date=concert_date, status="CONFIRMED")
        assert sum(reservation.items.count() for reservation in owned) == 8
