from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from .models import User, WalletTransaction


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "role"]
        read_only_fields = fields


class MeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id", "email", "name", "role", "phone_number", "address", "balance", "email_verified", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class AmountField(serializers.DecimalField):
    """A money amount: decimal string or number, > 0, two decimals at most, at most WALLET_MAX_CHARGE."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            max_digits=14,
            decimal_places=2,
            min_value=Decimal("0.01"),
            max_value=Decimal(settings.WALLET_MAX_CHARGE),
            **kwargs,
        )

    def to_internal_value(self, data: object) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class WalletTransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WalletTransaction
        fields = ["id", "kind", "amount", "balance_after", "created_at", "reference"]
        read_only_fields = fields
