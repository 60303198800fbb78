import re
from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.common.schema import amount_schema

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


# ASCII digits, an optional fraction, an optional minus (refused by the minimum with its own message).
# Decimal() alone also takes "\u0665" (an Arabic-Indic five), "1_000", " 5 ", "+5", "5e2" and "Infinity".
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


@extend_schema_field(amount_schema(settings.WALLET_MAX_CHARGE))
class AmountField(serializers.DecimalField):
    """A money amount: a plain decimal string ("50000.00") or a JSON number (read as Decimal by the
    parser, never as float), > 0, at most two decimals, at most WALLET_MAX_CHARGE."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            max_digits=14,
            decimal_places=2,
            min_value=Decimal("0.01"),
            max_value=Decimal(settings.WALLET_MAX_CHARGE),
            **kwargs,
        )

    def to_internal_value(self, data: object) -> Decimal:
        if isinstance(data, str):
            if not PLAIN_DECIMAL.fullmatch(data):
                self.fail("invalid")
        elif isinstance(data, Decimal):
            if not data.is_finite():
                self.fail("invalid")
        elif isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")  # floats included: whatever produced one has already rounded
        return super().to_internal_value(data)


class WalletTransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WalletTransaction
        fields = ["id", "kind", "amount", "balance_after", "created_at", "reference"]
        read_only_fields = fields
