"""Output pieces shared by the catalogue views (each view's own shape is its nested OutputSerializer)."""

from rest_framework import serializers

from . import selectors
from .models import ConcertDate, SeatStatus


class VenueBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class VenueSerializer(VenueBriefSerializer):
    address = serializers.CharField()
    seat_count = serializers.IntegerField()


class ConcertDateSerializer(serializers.Serializer):
    """A performance with its availability. Needs `inventory` loaded with the date (the selectors do)."""

    id = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    booking_opens_at = serializers.DateTimeField()
    total_seats = serializers.IntegerField()
    remaining_seats = serializers.SerializerMethodField(help_text="Seats neither held nor reserved.")
    is_available = serializers.SerializerMethodField(
        help_text="Booking is open and has started, the show has not, and seats are left."
    )

    def get_remaining_seats(self, concert_date: ConcertDate) -> int:
        return selectors.remaining_seats(concert_date)

    def get_is_available(self, concert_date: ConcertDate) -> bool:
        return selectors.is_available(concert_date)


class SeatSerializer(serializers.Serializer):
    """The shape of a seat in the seat list (`seat_map.seat_list` renders it as stored bytes; this
    documents it in the schema and the tests check the rendered list against it)."""

    id = serializers.IntegerField()
    seat_num = serializers.IntegerField()
    section = serializers.CharField()
    row = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    status = serializers.ChoiceField(choices=SeatStatus.choices)
