from rest_framework import serializers

from .models import Payment


class PaymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "reservation_id", "amount", "status", "paid_at", "refunded_at"]
        read_only_fields = fields


class PaymentCreatedSerializer(PaymentSerializer):
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta(PaymentSerializer.Meta):
        fields = [*PaymentSerializer.Meta.fields, "balance"]
        read_only_fields = fields
