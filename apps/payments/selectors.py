from typing import Any

from django.db.models import QuerySet

from .models import Payment


def payments_of(*, user: Any) -> QuerySet[Payment]:
    return Payment.objects.filter(user_id=user.pk).order_by("-paid_at", "-id")
