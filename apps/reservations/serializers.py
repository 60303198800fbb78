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
    together = serializers.SerializerMethodField(help_text="The seats are side by side in one row.")

    class Meta:
        model = Reservation
        fields = [
            "id", "status", "concert_id", "concert_date_id", "seats", "together", "total_price", "expires_at",
            "reserved_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_status(self, reservation: Reservation) -> str:
        return reservation.effective_status()

    def get_together(self, reservation: Reservation) -> bool:
        """One row, consecutive seat numbers (a date's seats are numbered along each row)."""
        seats = [item.seat for item in reservation.items.all()]
        if not seats:
            return False
        numbers = sorted(seat.seat_num for seat in seats)
        return len({(seat.section, seat.row) for seat in seats}) == 1 and numbers == list(
            range(numbers[0], numbers[0] + len(numbers))
        )
