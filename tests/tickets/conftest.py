from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.common import outbox
from apps.payments import services as payments
from apps.reservations import services as reservations
from apps.reservations.models import Reservation
from tests.factories import UserFactory
from tests.helpers import fund, login_client


@pytest.fixture
def paid_booking(db: None, django_capture_on_commit_callbacks: Any) -> Callable[..., Reservation]:
    """Makes a paid (CONFIRMED) reservation of `count` seats of `date` for `user` (a new buyer
    unless given); the payment's outbox effect has run (its urgent part at commit, the rest by the relay,
    which issues the tickets)."""

    def make(date: Any, seat_ids: list[int], user: Any = None) -> Reservation:
        user = user or UserFactory()
        fund(user)
        reservation = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids)
        with django_capture_on_commit_callbacks(execute=True):  # the effect's part that runs at commit
            payments.pay_for_reservation(user=user, reservation_id=reservation.pk)
        outbox.relay()  # the whole effect: the tickets are issued here
        reservation.refresh_from_db()
        return reservation

    return make


@pytest.fixture
def staff_client(db: None) -> Any:
    return login_client(UserFactory(role="STAFF"))
