from django.db.models import QuerySet

from .models import User, WalletTransaction


def get_user(*, user_id: int) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).first()


def ledger(*, user_id: int) -> QuerySet[WalletTransaction]:
    """A wallet's entries, newest first."""
    return WalletTransaction.objects.filter(user_id=user_id).order_by("-created_at", "-id")


def balance(*, user_id: int):
    return User.objects.values_list("balance", flat=True).get(pk=user_id)
