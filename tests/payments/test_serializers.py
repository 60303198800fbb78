"""A payment's 201 answer is built from fields made once: the same dict and bytes as ModelSerializer's
generic rendering of the same fields, for a payment as the service returns it, read back, refunded,
and with odd values."""

import datetime as dt
from decimal import Decimal

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from apps.payments import services
from apps.payments.models import Payment
from apps.payments.serializers import PaymentCreatedSerializer
from apps.reservations import services as reservations
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import fund

pytestmark = pytest.mark.django_db


def generic(payment):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PaymentCreatedSerializer, "to_representation", serializers.ModelSerializer.to_representation)
        return PaymentCreatedSerializer(payment).data


def assert_same(payment):
    expected, got = generic(payment), PaymentCreatedSerializer(payment).data
    assert got == expected
    assert JSONRenderer().render(got) == JSONRenderer().render(expected)
    return got


def pay():
    user = UserFactory()
    fund(user)
    date = make_date()
    held = reservations.hold_seats(user=user, concert_date_id=date.pk, seat_ids=seat_ids(date)[:2])
    payment, balance = services.pay_for_reservation(user=user, reservation_id=held.pk)
    payment.balance = balance
    return user, held, payment


def test_a_payment_as_the_service_returns_it():
    _, _, payment = pay()
    body = assert_same(payment)
    assert body["status"] == "PAID" and body["refunded_at"] is None
    assert set(body) == {"id", "reservation_id", "amount", "status", "paid_at", "refunded_at", "balance"}


def test_read_back_refunded_and_odd_values():
    user, held, payment = pay()
    reservations.cancel_reservation(user=user, reservation_id=held.pk)  # refunds the payment
    refunded = Payment.objects.get(pk=payment.pk)
    refunded.balance = Decimal("0")
    body = assert_same(refunded)
    assert body["status"] == "REFUNDED" and body["refunded_at"] is not None
    whole = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    refunded.paid_at, refunded.amount, refunded.balance = whole, Decimal("1E+2"), Decimal("7.005")
    assert_same(refunded)
