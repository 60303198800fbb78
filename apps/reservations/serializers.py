from typing import Any

from rest_framework import serializers

from apps.common.schema import shown

from .models import Reservation, ReservationItem

# The formatted fields of a reservation's representation, as the ModelSerializers below declare them
# from the models (built once: their `to_representation` keeps no state).
_ID = serializers.BigIntegerField()
_INT = serializers.IntegerField()
_TEXT = serializers.CharField()
_SEAT_PRICE = serializers.DecimalField(max_digits=12, decimal_places=2)
_TOTAL_PRICE = serializers.DecimalField(max_digits=14, decimal_places=2)
_MOMENT = serializers.DateTimeField()


def _seat(item: ReservationItem) -> dict[str, Any]:
    seat = item.seat
    return {
        "id": shown(_INT, item.seat_id),
        "seat_num": shown(_INT, seat.seat_num),
        "section": shown(_TEXT, seat.section),
        "row": shown(_TEXT, seat.row),
        "price": shown(_SEAT_PRICE, item.price),
    }


class ReservationSeatSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="seat_id")
    seat_num = serializers.IntegerField(source="seat.seat_num")
    section = serializers.CharField(source="seat.section")
    row = serializers.CharField(source="seat.row")

    class Meta:
        model = ReservationItem
        fields = ["id", "seat_num", "section", "row", "price"]

    def to_representation(self, instance: ReservationItem) -> dict[str, Any]:
        """The dict `ModelSerializer.to_representation` makes, built directly: a ModelSerializer builds
        its fields from the model for every instance it renders, most of a hold response's time. The
        declared fields stay the schema (drf-spectacular)."""
        return _seat(instance)


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

    def to_representation(self, instance: Reservation) -> dict[str, Any]:
        """The dict `ModelSerializer.to_representation` makes, built directly (as the seats'), reading
        the reservation in the same order (its items twice: the seats, then `together`)."""
        return {
            "id": shown(_ID, instance.id),
            "status": self.get_status(instance),
            "concert_id": instance.concert_id,
            "concert_date_id": instance.concert_date_id,
            "seats": [_seat(item) for item in instance.items.all()],
            "together": self.get_together(instance),
            "total_price": shown(_TOTAL_PRICE, instance.total_price),
            "expires_at": shown(_MOMENT, instance.expires_at),
            "reserved_at": shown(_MOMENT, instance.reserved_at),
            "created_at": shown(_MOMENT, instance.created_at),
        }

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
