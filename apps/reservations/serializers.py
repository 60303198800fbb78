from rest_framework import serializers

from .models import Reservation, ReservationItem


class ReservationSeatSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="seat_id")
    seat_num = serializers.IntegerField(source="seat.seat_num")
    section = serializers.CharField(source="seat.section")
    row = serializers.CharField(source="seat.row")

    class Meta:
        model = ReservationItem
        fields = ["id", "seat_num", "section", "row", "price"]


class ReservationSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    seats = ReservationSeatSerializer(source="items", many=True)

    class Meta:
        model = Reservation
        fields = [
            "id", "status", "concert_id", "concert_date_id", "seats", "total_price", "expires_at", "reserved_at",
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, reservation: Reservation) -> str:
        return reservation.effective_status()
